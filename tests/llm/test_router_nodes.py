"""The router over real processes: two `harvis llm-node`s on two loopback addresses, and
llama-cpp-python's OpenAI-compatible server as the cloud fallback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from harvis.config import LLMSettings
from harvis.llm.openai_client import OpenAIClient
from harvis.llm.router import Router
from harvis.llm.router_config import parse_config
from harvis.llm.types import ChatRequest, Delta, StreamBroken, StreamEnd, Unavailable, UpstreamAuthError
from tests.llm.servers import (
    MODEL,
    loaded_on,
    set_keep_alive,
    start_openai_server,
    two_loopback_hosts,
)
from tests.llm.util import chat, until
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc, free_port

pytestmark = pytest.mark.slow
HOSTS = two_loopback_hosts()
SETTINGS: dict[str, Any] = {
    "probe_interval_s": 0.2,
    "cooldown_s": 2.0,
    "allowed_fails": 1,
    "queue_wait_s": 60.0,
}
SHORT = {"temperature": 0, "num_predict": 8}
LONG_PROMPT = "List 100 animals, one per line, numbered."


@pytest.fixture(scope="module")
def node_b() -> Iterator[Proc]:
    proc = start_llm_node(HOSTS[1], threads=1)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def node_a() -> Iterator[Proc]:
    proc = start_llm_node(HOSTS[0], threads=1)
    try:
        yield proc
    finally:
        proc.stop()


def config_for(*urls: str) -> dict[str, object]:
    return {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": url}}
            for url in urls
        ]
    }


@pytest.fixture
async def make_router() -> AsyncIterator[object]:
    routers: list[Router] = []

    async def make(config: dict[str, object], env: dict[str, str] | None = None) -> Router:
        r = Router(LLMSettings(**SETTINGS), parse_config(config, env=env or {}))
        await r.start()
        routers.append(r)
        return r

    yield make
    for r in routers:
        await r.close()


def dep_status(router: Router, url: str) -> dict[str, object]:
    return next(d for d in router.status()["deployments"] if d["node"] == url)


def recovered(router: Router, url: str) -> bool:
    dep = dep_status(router, url)
    return dep["healthy"] is True and dep["cooling_until"] is None and bool(dep["loaded"])


def only_b_loaded(router: Router, a: str, b: str) -> bool:
    return bool(dep_status(router, b)["loaded"]) and not dep_status(router, a)["loaded"]


async def test_affinity_to_the_node_with_the_model_loaded(
    node_a: Proc, node_b: Proc, make_router: object
) -> None:
    await asyncio.to_thread(set_keep_alive, node_a.url, 0)
    await asyncio.to_thread(set_keep_alive, node_b.url, "5m")
    router: Router = await make_router(config_for(node_a.url, node_b.url))  # type: ignore[operator]
    await until(lambda: only_b_loaded(router, node_a.url, node_b.url), what="router saw B loaded (/api/ps)")
    for _ in range(3):
        content, _, end = await chat(router, MODEL, "Say hello.", options=SHORT)
        assert content.strip() and end.served_by == f"{MODEL}@{node_b.url}"
    assert await asyncio.to_thread(loaded_on, node_a.url) == []  # A never had to load it


async def test_killing_a_node_mid_traffic_loses_no_unstarted_request(
    node_b: Proc, make_router: object
) -> None:
    node_c = start_llm_node(HOSTS[0], threads=1)
    try:
        # Only C has the model: the long answer goes there (affinity); then B loads it too.
        await asyncio.to_thread(set_keep_alive, node_b.url, 0)
        await asyncio.to_thread(set_keep_alive, node_c.url, "5m")
        router: Router = await make_router(config_for(node_c.url, node_b.url))  # type: ignore[operator]
        await until(lambda: only_b_loaded(router, node_b.url, node_c.url), what="router saw only C loaded")
        long_req = ChatRequest(
            MODEL, [{"role": "user", "content": LONG_PROMPT}], options={"temperature": 0, "num_predict": 300}
        )
        long_stream = router.stream_chat(long_req)
        first = await anext(long_stream)
        assert isinstance(first, Delta)
        assert dep_status(router, node_c.url)["in_flight"] == 1
        await asyncio.to_thread(set_keep_alive, node_b.url, "5m")
        await until(lambda: dep_status(router, node_b.url)["loaded"], what="router saw B loaded")

        # Short requests: fewest in flight first, so they alternate; C's queue behind the long answer.
        shorts = [
            asyncio.create_task(chat(router, MODEL, f"Say the number {i}.", options=SHORT)) for i in range(6)
        ]
        await until(
            lambda: int(dep_status(router, node_c.url)["in_flight"]) >= 2,  # type: ignore[call-overload]
            what="short requests queued behind the long one on C",
        )
        received = [first.content]
        for _ in range(3):
            item = await anext(long_stream)
            assert isinstance(item, Delta)
            received.append(item.content)
        node_c.kill()  # SIGKILL, as a crash

        # The streaming answer ends with StreamBroken; nothing it sent is sent again: what arrived
        # is exactly the model's own (deterministic) beginning, with no retried text appended.
        with pytest.raises(StreamBroken):
            async for item in long_stream:
                assert isinstance(item, Delta)
                received.append(item.content)
        got = "".join(received)
        reference = (
            await chat(
                router, MODEL, LONG_PROMPT, options={"temperature": 0, "num_predict": len(received) + 2}
            )
        )[0]
        m = min(len(got), len(reference))
        assert m >= 4 and got[:m] == reference[:m], (got, reference)

        # Every request that had not started streaming is answered by the survivor. (The node
        # generates one request at a time, so the short ones queued on C had not started.)
        results = await asyncio.gather(*shorts)
        assert all(content.strip() for content, _, _ in results)
        assert all(end.served_by in (f"{MODEL}@{node_c.url}", f"{MODEL}@{node_b.url}") for *_, end in results)
        retried = [end for *_, end in results if end.attempts > 1]
        assert retried and all(end.served_by == f"{MODEL}@{node_b.url}" for end in retried)

        # A bounded run of new requests after the crash: none is lost.
        for i in range(4):
            _, _, end = await chat(router, MODEL, f"Name a colour ({i}).", options=SHORT)
            assert end.served_by == f"{MODEL}@{node_b.url}"
        assert dep_status(router, node_c.url)["healthy"] is False
        labels = {"deployment": f"{MODEL}@{node_c.url}"}
        cooled = REGISTRY.get_sample_value("harvis_router_cooldowns_total", labels)
        assert cooled and cooled >= 1

        # Cooldown and recovery: the node comes back on the same address and gets traffic again.
        node_c = start_llm_node(HOSTS[0], port=int(node_c.url.rsplit(":", 1)[1]), threads=1)
        await asyncio.to_thread(set_keep_alive, node_c.url, "5m")
        await until(lambda: recovered(router, node_c.url), limit_s=30, what="recovery")
        ends = [(await chat(router, MODEL, "Say yes.", options=SHORT))[2] for _ in range(4)]
        assert f"{MODEL}@{node_c.url}" in {e.served_by for e in ends}
    finally:
        node_c.stop()


async def test_fallback_to_a_real_openai_compatible_server(node_a: Proc, make_router: object) -> None:
    key = "sk-harvis-test"
    cloud = start_openai_server(HOSTS[1], api_key=key)
    try:
        api_base = f"{cloud.url}/v1"
        dead = f"http://{HOSTS[0]}:{free_port(HOSTS[0])}"
        model_list = [
            {"model_name": "local", "litellm_params": {"model": f"ollama/{MODEL}", "api_base": dead}},
            {
                "model_name": "gpt-4o",
                "litellm_params": {
                    "model": "openai/gpt-4o",
                    "api_base": api_base,
                    "api_key": "os.environ/HARVIS_TEST_CLOUD_KEY",
                },
            },
        ]
        env = {"HARVIS_TEST_CLOUD_KEY": key}
        router: Router = await make_router(  # type: ignore[operator]
            {"model_list": model_list, "litellm_settings": {"fallbacks": [{"local": ["gpt-4o"]}]}}, env
        )
        content, _, end = await chat(router, "local", "Say hello.", options=SHORT)
        assert content.strip()
        assert end.fallback and end.fallback_from == "local" and end.model == "gpt-4o"
        assert end.served_by == f"gpt-4o@{api_base}"

        without: Router = await make_router({"model_list": model_list}, env)  # type: ignore[operator]
        with pytest.raises(Unavailable):
            await chat(without, "local", "Say hello.", options=SHORT)

        wrong = OpenAIClient(api_base, "sk-wrong")
        try:
            with pytest.raises(UpstreamAuthError):
                async for _ in wrong.stream_chat("gpt-4o", [{"role": "user", "content": "hi"}]):
                    pass
        finally:
            await wrong.aclose()

        direct = OpenAIClient(api_base, key)
        try:
            chunks = [
                c
                async for c in direct.stream_chat(
                    "gpt-4o", [{"role": "user", "content": "Say hi."}], options=SHORT
                )
            ]
        finally:
            await direct.aclose()
        assert "".join(c.content for c in chunks).strip()
        assert chunks[-1].done and chunks[-1].done_reason in ("stop", "length")
    finally:
        cloud.stop()


async def test_warm_through_the_router_loads_the_model(node_a: Proc, make_router: object) -> None:
    await asyncio.to_thread(set_keep_alive, node_a.url, 0)
    router: Router = await make_router(config_for(node_a.url))  # type: ignore[operator]
    await router.warm(MODEL, "-1")
    assert await asyncio.to_thread(loaded_on, node_a.url) == [MODEL]
    _, _, end = await chat(router, MODEL, "Hi", options=SHORT)
    assert isinstance(end, StreamEnd) and end.served_by == f"{MODEL}@{node_a.url}"
    await asyncio.to_thread(set_keep_alive, node_a.url, "5m")
