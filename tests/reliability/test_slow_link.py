"""A slow or broken link between the backend and its LLM node (a fault-injecting TCP proxy of
the tests' own): the connect, first-byte and between-chunk limits each end a request with a
clear error instead of a hang, and the link works again as soon as it is restored.

Limits are set small through HARVIS_LLM__*; each case checks the limit named in its error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx
import pytest

from tests.support.backend import login, signup, start_backend
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc
from tests.support.reliability import chat_events, router_config, unanswered_connects
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = pytest.mark.slow
MODEL = "smollm2:135m"
CONNECT_S, FIRST_BYTE_S, CHUNK_S = 1, 8, 1.5
STORY = "Tell me a very long story about a lighthouse keeper and his cat, with many details."


@pytest.fixture(scope="module")
def link(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, TcpProxy]]:
    node = start_llm_node(threads=1)
    try:
        # Warm the model directly (not through the proxy): a cold load is not what is measured here.
        r = httpx.post(
            f"{node.url}/api/chat",
            timeout=300,
            json={
                "model": MODEL,
                "stream": False,
                "messages": [{"role": "user", "content": "hi"}],
                "options": {"num_predict": 1},
            },
        )
        assert r.status_code == 200, r.text
        with (
            tcp_proxy("127.0.0.1", ("127.0.0.1", int(node.url.rsplit(":", 1)[1]))) as proxy,
            unanswered_connects() as stuck,
        ):
            data = tmp_path_factory.mktemp("slow-link")
            # Through the same slow proxy, but with a generous first-byte limit of its own: the
            # delayed request and first reply take a few delays, the gaps between chunks one each.
            slow_chunks = {
                "model_name": "slow-chunks",
                "litellm_params": {"model": f"ollama/{MODEL}", "api_base": proxy.url, "stream_timeout": 60},
            }
            config = router_config(
                data / "router.yaml", [(MODEL, proxy.url), ("stuck-connect", stuck)], extra=[slow_chunks]
            )
            env = {
                "HARVIS_LLM_CONFIG": str(config),
                "HARVIS_LLM__CONNECT_TIMEOUT_S": str(CONNECT_S),
                "HARVIS_LLM__FIRST_BYTE_TIMEOUT_S": str(FIRST_BYTE_S),
                "HARVIS_LLM__CHUNK_TIMEOUT_S": str(CHUNK_S),
                # One request per chat, as each limit is about that request (smollm2 would be
                # offered the tools first, refuse them and be asked again).
                "HARVIS_TOOLS__ENABLED": "false",
            }
            backend = start_backend(data / "data", env=env)
            try:
                signup(backend.url, "slowpoke")
                yield backend, proxy
            finally:
                backend.stop()
    finally:
        node.stop()


@pytest.fixture
def client(link: tuple[Proc, TcpProxy]) -> Iterator[httpx.Client]:
    backend, proxy = link
    proxy.restore()
    with closing(login(backend.url, "slowpoke")) as c:
        yield c
    proxy.restore()


def final_error(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    name, data = events[-1]
    assert name == "error", f"expected an error event, got {[n for n, _ in events][-3:]}"
    assert data["message"] and data["message_id"] == events[0][1]["assistant_message_id"]
    return data


def assert_works(client: httpx.Client) -> None:
    events = chat_events(client, {"message": "Say yes.", "options": {"num_predict": 4}}, timeout=120)
    assert events[-1][0] == "done", events[-1]


def test_the_limits_leave_a_healthy_link_alone(client: httpx.Client) -> None:
    assert_works(client)


def test_connect_limit(client: httpx.Client) -> None:
    events = chat_events(client, {"message": "Hello?", "model": "stuck-connect"}, timeout=60)
    error = final_error(events)
    assert error["code"] == "llm_unavailable" and "connect timed out" in error["message"], error
    assert_works(client)


def test_first_byte_limit(client: httpx.Client, link: tuple[Proc, TcpProxy]) -> None:
    _, proxy = link
    proxy.blackhole()  # connects succeed, nothing ever comes back
    events = chat_events(client, {"message": "Hello?"}, timeout=60)
    error = final_error(events)
    assert error["code"] == "upstream_timeout" and f"within {FIRST_BYTE_S:g}s" in error["message"], error
    proxy.restore()
    assert_works(client)


def test_between_chunks_limit(client: httpx.Client, link: tuple[Proc, TcpProxy]) -> None:
    _, proxy = link
    proxy.delay(CHUNK_S + 1.0)  # the first byte still arrives in time; the gaps are too long
    payload = {"message": STORY, "model": "slow-chunks", "options": {"num_predict": 400, "seed": 2}}
    events = chat_events(client, payload, timeout=120)
    error = final_error(events)
    assert error["code"] in ("stream_broken", "upstream_timeout"), error
    assert f"no next chunk within {CHUNK_S:g}s" in error["message"], error
    saved = client.get(f"/api/sessions/{events[0][1]['session_id']}/messages").json()[-1]
    assert saved["status"] == "error" and saved["content"] == "".join(
        d["text"] for n, d in events if n == "token"
    )
    proxy.restore()
    assert_works(client)
