"""Router behaviour over two Ollama-API nodes (fault cases need the scripted responder)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import pytest
from prometheus_client import REGISTRY

from harvis.config import LLMSettings, Settings
from harvis.llm import watch
from harvis.llm.router import Router
from harvis.llm.router_config import parse_config
from harvis.llm.types import (
    BadRequest,
    ChatRequest,
    Delta,
    ModelNotFound,
    NoCapacity,
    StreamBroken,
    Unavailable,
    UpstreamError,
)
from tests.llm.util import chat, until
from tests.support.fake_ollama import Behaviour, FakeOllama
from tests.support.processes import free_port

MODEL = "smollm2:135m"
FAST: dict[str, Any] = {"probe_interval_s": 0.1, "cooldown_s": 30.0, "allowed_fails": 1, "queue_wait_s": 0.3}


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[FakeOllama, FakeOllama]]:
    a = FakeOllama(models=(MODEL,)).start()
    b = FakeOllama(models=(MODEL,)).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def pair(nodes: tuple[FakeOllama, FakeOllama]) -> tuple[FakeOllama, FakeOllama]:
    for n in nodes:
        n.behaviour, n.loaded, n.models = Behaviour(), [], [MODEL]
        n.seen.clear()
        n.release.clear()
    return nodes


def two_node_config(a: FakeOllama, b: FakeOllama, **settings: object) -> dict[str, object]:
    return {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url}},
            {"model_name": MODEL, "litellm_params": {"model": f"ollama_chat/{MODEL}", "api_base": b.url}},
        ],
        "router_settings": settings,
    }


async def started(config: Mapping[str, Any], **llm: Any) -> Router:
    router = Router(LLMSettings(**{**FAST, **llm}), parse_config(config))
    await router.start()
    return router


@pytest.fixture
async def router(pair: tuple[FakeOllama, FakeOllama]) -> AsyncIterator[Router]:
    r = await started(two_node_config(*pair))
    try:
        yield r
    finally:
        await r.close()


def served(router: Router, fake: FakeOllama) -> str:
    return f"{MODEL}@{fake.url}"


async def test_prefers_the_node_with_the_model_loaded(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, b = pair
    b.loaded = [MODEL]
    r = await started(two_node_config(a, b))
    try:
        ends = [(await chat(r, MODEL))[2] for _ in range(4)]
    finally:
        await r.close()
    assert {e.served_by for e in ends} == {served(r, b)}
    assert len(a.chats()) == 0 and len(b.chats()) == 4


async def test_least_busy_node_when_both_have_it(pair: tuple[FakeOllama, FakeOllama], router: Router) -> None:
    a, b = pair
    a.loaded = b.loaded = [MODEL]
    await until(lambda: all(d["loaded"] for d in router.status()["deployments"]), what="probe saw loaded")
    a.behaviour = b.behaviour = Behaviour(stall_after=1)
    first = router.stream_chat(ChatRequest(MODEL, [{"role": "user", "content": "x"}]))
    assert isinstance(await anext(first), Delta)
    busy = next(d for d in router.status()["deployments"] if d["in_flight"] == 1)
    a.behaviour = b.behaviour = Behaviour()
    _, _, end = await chat(router, MODEL)
    assert end.served_by != busy["id"]
    a.release.set()
    b.release.set()
    await first.aclose()


async def test_failure_before_first_token_is_retried_elsewhere(
    pair: tuple[FakeOllama, FakeOllama], router: Router
) -> None:
    a, b = pair
    a.loaded = [MODEL]
    await until(lambda: router.status()["deployments"][0]["loaded"], what="probe saw a loaded")
    a.behaviour = Behaviour(status=500, error="llama runner process has terminated")
    content, _, end = await chat(router, MODEL)
    assert content == "Hello from fake."
    assert end.served_by == served(router, b) and end.attempts == 2 and not end.fallback
    assert len(a.chats()) == 1 and len(b.chats()) == 1
    cooled = router.status()["deployments"][0]
    assert cooled["cooling_until"] is not None  # allowed_fails=1


@pytest.mark.parametrize("status", [503, 404])
async def test_busy_or_missing_model_moves_on_without_cooldown(
    pair: tuple[FakeOllama, FakeOllama], router: Router, status: int
) -> None:
    a, b = pair
    a.loaded = [MODEL]
    await until(lambda: router.status()["deployments"][0]["loaded"], what="probe saw a loaded")
    a.behaviour = Behaviour(status=status, error="server busy" if status == 503 else "not found")
    _, _, end = await chat(router, MODEL)
    assert end.served_by == served(router, b) and end.attempts == 2
    assert router.status()["deployments"][0]["cooling_until"] is None


async def test_error_after_first_token_is_stream_broken_without_retry(
    pair: tuple[FakeOllama, FakeOllama], router: Router
) -> None:
    a, b = pair
    a.loaded = [MODEL]
    await until(lambda: router.status()["deployments"][0]["loaded"], what="probe saw a loaded")
    a.behaviour = Behaviour(error_after=2, error="out of memory")
    got: list[str] = []
    with pytest.raises(StreamBroken, match="out of memory"):
        async for item in router.stream_chat(ChatRequest(MODEL, [{"role": "user", "content": "x"}])):
            assert isinstance(item, Delta)
            got.append(item.content)
    assert got == ["Hello", " from"]  # what was sent stays sent; nothing repeated
    assert len(b.chats()) == 0


async def test_bad_request_is_not_retried(pair: tuple[FakeOllama, FakeOllama], router: Router) -> None:
    a, b = pair
    a.behaviour = b.behaviour = Behaviour(status=400, error='invalid option "num_ctx"')
    with pytest.raises(BadRequest):
        await chat(router, MODEL)
    assert len(a.chats()) + len(b.chats()) == 1


async def test_cooldown_then_recovery_by_itself(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, b = pair
    a.loaded = [MODEL]
    r = await started(two_node_config(a, b), cooldown_s=0.5)
    try:
        a.behaviour = Behaviour(status=500)
        assert (await chat(r, MODEL))[2].served_by == served(r, b)
        a.behaviour = Behaviour()
        assert (await chat(r, MODEL))[2].served_by == served(r, b)  # a is cooling
        assert len(a.chats()) == 1
        await until(lambda: r.status()["deployments"][0]["cooling_until"] is None, what="cooldown end")
        assert (await chat(r, MODEL))[2].served_by == served(r, a)  # back, and preferred again (loaded)
    finally:
        await r.close()


async def test_all_busy_waits_then_503_with_retry_after(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    config = {
        "model_list": [
            {
                "model_name": MODEL,
                "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url, "max_parallel_requests": 1},
            }
        ]
    }
    r = await started(config)
    try:
        a.behaviour = Behaviour(stall_after=1)
        first = r.stream_chat(ChatRequest(MODEL, [{"role": "user", "content": "x"}]))
        await anext(first)
        with pytest.raises(NoCapacity) as info:
            await chat(r, MODEL)
        assert info.value.retry_after and info.value.retry_after >= 1 and info.value.status == 503
        # A waiting request gets the slot as soon as it is free.
        waiting = asyncio.create_task(chat(r, MODEL))
        await until(lambda: r._waiters, what="second request waiting")
        a.behaviour = Behaviour()
        a.release.set()
        async for _ in first:
            pass
        assert (await waiting)[0] == "Hello from fake."
    finally:
        await r.close()


async def test_fallback_only_where_configured(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    dead = f"http://127.0.0.1:{free_port()}"
    model_list = [
        {"model_name": "big", "litellm_params": {"model": "ollama/big:70b", "api_base": dead}},
        {"model_name": "small", "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url}},
    ]
    r = await started({"model_list": model_list, "router_settings": {"fallbacks": [{"big": ["small"]}]}})
    try:
        content, _, end = await chat(r, "big")
        assert content == "Hello from fake."
        assert end.fallback and end.fallback_from == "big" and end.model == "small"
        assert end.served_by == f"small@{a.url}"
    finally:
        await r.close()
    r = await started({"model_list": model_list})
    try:
        with pytest.raises(Unavailable, match="cannot connect"):
            await chat(r, "big")
    finally:
        await r.close()


async def test_reasoning_is_split_from_content(pair: tuple[FakeOllama, FakeOllama], router: Router) -> None:
    for n in pair:
        n.behaviour = Behaviour(thinking=["field "], chunks=["<thi", "nk>tagged</th", "ink>\n\nAnswer", "."])
    content, reasoning, _ = await chat(router, MODEL)
    assert content == "Answer." and reasoning == "field tagged"


async def test_consumer_aclose_cancels_the_upstream(
    pair: tuple[FakeOllama, FakeOllama], router: Router
) -> None:
    for n in pair:
        n.behaviour = Behaviour(stall_after=1)
    stream = router.stream_chat(ChatRequest(MODEL, [{"role": "user", "content": "x"}]))
    await anext(stream)
    await stream.aclose()
    await until(lambda: any(s.client_left for n in pair for s in n.chats()), what="node saw the client leave")
    assert all(d["in_flight"] == 0 for d in router.status()["deployments"])


async def test_unknown_model_and_keep_alive(pair: tuple[FakeOllama, FakeOllama], router: Router) -> None:
    with pytest.raises(ModelNotFound):
        await chat(router, "nope:7b")
    await chat(router, MODEL, keep_alive="-1")
    await chat(router, MODEL)
    bodies = [s.body for n in pair for s in n.chats()]
    assert sorted(str(b["keep_alive"]) for b in bodies) == ["-1", "5m"]


async def test_warm_loads_on_one_node_and_marks_it(
    pair: tuple[FakeOllama, FakeOllama], router: Router
) -> None:
    await router.warm(MODEL, "-1")
    loads = [s.body for n in pair for s in n.seen if not s.body.get("messages")]
    assert loads == [{"model": MODEL, "messages": [], "stream": False, "keep_alive": "-1"}]
    assert sum(m.loaded for m in await router.list_models()) == 1


async def test_metrics_count_decisions(pair: tuple[FakeOllama, FakeOllama], router: Router) -> None:
    a, _ = pair
    a.loaded = [MODEL]
    await until(lambda: router.status()["deployments"][0]["loaded"], what="probe saw a loaded")
    dep = served(router, a)
    labels = {"deployment": dep, "outcome": "retried", "fallback": "false"}
    before = REGISTRY.get_sample_value("harvis_router_attempts_total", labels) or 0.0
    a.behaviour = Behaviour(status=500)
    await chat(router, MODEL)
    assert REGISTRY.get_sample_value("harvis_router_attempts_total", labels) == before + 1
    assert REGISTRY.get_sample_value("harvis_router_cooldowns_total", {"deployment": dep})


async def test_check_reports_reachable_nodes(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    dead = f"http://127.0.0.1:{free_port()}"
    config = {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url}},
            {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": dead}},
        ]
    }
    r = await started(config)
    try:
        result = await r.check()
        assert result["ok"] is True
        assert {n["url"]: n["ok"] for n in result["nodes"]} == {a.url: True, dead: False}
    finally:
        await r.close()


async def test_without_config_serves_what_ollama_url_lists(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    a.models = [MODEL, "qwen2.5-coder:0.5b"]
    r = Router.from_settings(Settings(ollama_url=a.url, llm=LLMSettings(**FAST, default_model=MODEL)))
    await r.start()
    try:
        assert {m.name for m in await r.list_models()} == {MODEL, "qwen2.5-coder:0.5b"}
        assert r.default_model == MODEL
        assert (await chat(r, "qwen2.5-coder:0.5b"))[2].served_by == f"qwen2.5-coder:0.5b@{a.url}"
        a.models = [MODEL]  # removed from the node: gone from the router at the next probe
        await until(lambda: {m["model"] for m in r.status()["deployments"]} == {MODEL}, what="tags refresh")
    finally:
        await r.close()


async def test_dns_discovery_adds_nodes(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    port = int(a.url.rsplit(":", 1)[1])
    llm = LLMSettings(**{**FAST, "discover_dns": "localhost", "discover_port": port})
    config = parse_config(
        {
            "model_list": [
                {
                    "model_name": "cloud",
                    "litellm_params": {
                        "model": "openai/gpt-4o",
                        "api_base": "http://127.0.0.1:9/v1",
                        "api_key": "x",
                    },
                }
            ]
        }
    )
    r = Router(llm, config)
    await r.start()
    try:
        urls = {m.node for m in await r.list_models() if m.name == MODEL}
        assert f"http://127.0.0.1:{port}" in urls
        assert (await chat(r, MODEL))[0] == "Hello from fake."
    finally:
        await r.close()


async def test_the_only_deployment_of_a_group_never_cools_down(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, _ = pair
    config = {
        "model_list": [
            {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url}}
        ]
    }
    r = await started(config)
    try:
        a.behaviour = Behaviour(status=500)
        with pytest.raises(UpstreamError):
            await chat(r, MODEL)
        a.behaviour = Behaviour()  # the node is fine again: the next request must not be refused
        assert (await chat(r, MODEL))[0] == "Hello from fake."
        assert r.status()["deployments"][0]["cooling_until"] is None
    finally:
        await r.close()


async def test_cloud_fallback_over_the_openai_protocol(pair: tuple[FakeOllama, FakeOllama]) -> None:
    a, b = pair
    b.api_key = "sk-cloud"
    model_list = [
        {"model_name": MODEL, "litellm_params": {"model": f"ollama/{MODEL}", "api_base": a.url}},
        {
            "model_name": "gpt-4o",
            "litellm_params": {
                "model": "openai/gpt-4o",
                "api_base": f"{b.url}/v1",
                "api_key": "os.environ/CLOUD_KEY",
            },
        },
    ]
    config = parse_config(
        {"model_list": model_list, "fallbacks": [{MODEL: ["gpt-4o"]}]}, env={"CLOUD_KEY": "sk-cloud"}
    )
    r = Router(LLMSettings(**FAST), config)
    await r.start()
    try:
        a.behaviour = Behaviour(status=503, error="server busy")
        content, _, end = await chat(r, MODEL)
        assert content == "Hello from fake." and end.fallback and end.served_by == f"gpt-4o@{b.url}/v1"
        assert end.completion_tokens == 4
    finally:
        b.api_key = None
        await r.close()


async def test_dns_discovery_drops_nodes_that_leave(
    pair: tuple[FakeOllama, FakeOllama], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answers of a headless Service as pods come and go (DNS itself cannot be scripted here).
    a, b = pair
    answers: list[set[str] | None] = [{a.url, b.url}, {b.url}, None]

    async def fake_resolve(name: str, port: int) -> set[str] | None:
        return answers[0]

    monkeypatch.setattr(watch, "resolve", fake_resolve)
    llm = LLMSettings(**{**FAST, "discover_dns": "ollama-headless", "probe_interval_s": 60})
    r = Router(
        llm,
        parse_config(
            {
                "model_list": [
                    {
                        "model_name": "cloud",
                        "litellm_params": {
                            "model": "openai/gpt-4o",
                            "api_base": "http://127.0.0.1:9/v1",
                            "api_key": "x",
                        },
                    }
                ]
            }
        ),
    )
    await r.start()
    try:
        assert {m.node for m in await r.list_models() if m.name == MODEL} == {a.url, b.url}
        answers.pop(0)
        await watch.discover(r._registry, llm)
        assert {m.node for m in await r.list_models() if m.name == MODEL} == {b.url}
        answers.pop(0)  # a failed lookup keeps what we have
        await watch.discover(r._registry, llm)
        assert {m.node for m in await r.list_models() if m.name == MODEL} == {b.url}
        assert (await chat(r, MODEL))[2].served_by == f"{MODEL}@{b.url}"
    finally:
        await r.close()


async def test_dns_discovery_does_not_count_ollama_url_as_another_node(
    pair: tuple[FakeOllama, FakeOllama], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In Kubernetes OLLAMA_URL names the same pods the headless Service lists: only the DNS
    # answers are nodes, or one pod would be counted (and load-balanced) twice.
    a, _ = pair

    async def fake_resolve(name: str, port: int) -> set[str] | None:
        return {a.url}

    monkeypatch.setattr(watch, "resolve", fake_resolve)
    llm = LLMSettings(**{**FAST, "discover_dns": "ollama-headless", "probe_interval_s": 60})
    r = Router(llm, None, ollama_url="http://harvis-ai-ollama-workstation:11434")
    await r.start()
    try:
        assert {m.node for m in await r.list_models() if m.name == MODEL} == {a.url}
    finally:
        await r.close()


async def test_start_says_which_ollama_it_uses_and_whether_it_answered(
    pair: tuple[FakeOllama, FakeOllama], caplog: pytest.LogCaptureFixture
) -> None:
    # The guide's check is `kubectl logs deploy/<backend> | grep -i ollama`.
    a, _ = pair
    dead = f"http://127.0.0.1:{free_port()}"
    caplog.set_level("INFO", logger="harvis.llm")
    for url in (a.url, dead):
        r = Router.from_settings(Settings(ollama_url=url, llm=LLMSettings(**FAST)))
        await r.start()
        await r.close()
    lines = [rec.getMessage() for rec in caplog.records if "ollama" in rec.getMessage().lower()]
    assert any(f"Ollama at {a.url} answered in" in x and MODEL in x for x in lines), lines
    assert any(f"Ollama at {dead} did not answer at start-up" in x for x in lines), lines
