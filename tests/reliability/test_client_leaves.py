"""A client that leaves a non-streamed /v1/chat/completions stops the generation behind it: a
real `harvis serve` over a real `harvis llm-node`, watched through the node's own counters."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.llm_node import SMALL_MODEL, metric, start_llm_node, tokens_after_leaving
from tests.support.processes import Proc, wait_until

pytestmark = pytest.mark.slow
MAX_TOKENS = 1500


@dataclass
class Stack:
    backend: Proc
    node: Proc
    token: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("leaves")
    node = start_llm_node(threads=1)
    try:
        backend = start_backend(tmp / "data", env={"OLLAMA_URL": node.url})
        try:
            signup(backend.url, "leaver")
            client = login(backend.url, "leaver")
            token = token_of(client)
            client.close()
            yield Stack(backend, node, token)
        finally:
            backend.stop()
    finally:
        node.stop()


def test_a_non_streamed_completion_stops_when_its_client_leaves(stack: Stack) -> None:
    node = httpx.Client(base_url=stack.node.url, timeout=30)
    body = {
        "model": SMALL_MODEL,
        "messages": [{"role": "user", "content": "Count from 1 to 2000, one number per line."}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": False,
    }
    # Gone before the answer: the backend must let go, so that the node stops its token loop.
    auth = {"Authorization": f"Bearer {stack.token}"}
    generated = tokens_after_leaving(node, stack.backend.url, "/v1/chat/completions", body, auth)
    assert generated < MAX_TOKENS / 2, f"{generated:.0f} tokens generated for a client that had left"
    # The backend is still fine, and the next request is answered.
    r = httpx.post(
        stack.backend.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {stack.token}"},
        json={"model": SMALL_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert "Traceback" not in stack.backend.log()


def test_a_streamed_request_waiting_in_line_leaves_the_line_with_its_client(stack: Stack) -> None:
    node = httpx.Client(base_url=stack.node.url, timeout=30)
    started = metric(node, "harvis_llm_node_ttft_seconds_count", model=SMALL_MODEL)

    def finished() -> float:
        return sum(
            metric(node, "harvis_llm_node_generations_total", model=SMALL_MODEL, done_reason=reason)
            for reason in ("stop", "length")
        )

    finished_before = finished()
    long_answer = {
        "model": SMALL_MODEL,
        "raw": True,
        "prompt": "Numbers:",
        # A grammar that cannot end before 400 numbers: the holder keeps the slot, EOS or not.
        "format": {"type": "array", "items": {"type": "integer"}, "minItems": 400},
        "options": {"temperature": 0, "num_predict": 100_000},
    }
    # Someone else holds the node's one slot (straight on the node, so the router cannot know).
    with (
        httpx.Client(base_url=stack.node.url, timeout=120) as other,
        other.stream("POST", "/api/generate", json=long_answer) as holder,
    ):
        lines = holder.iter_lines()
        assert json.loads(next(lines))["done"] is False
        wait_until(
            lambda: metric(node, "harvis_llm_node_ttft_seconds_count", model=SMALL_MODEL) > started,
            timeout=60,
            what="the slot holder to be generating",
        )
        body = json.dumps(
            {"model": SMALL_MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True}
        ).encode()
        url = urlsplit(stack.backend.url)
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30) as sock:
            head = (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {stack.token}\r\nContent-Type: application/json\r\n"
            )
            sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            wait_until(
                lambda: metric(node, "harvis_llm_node_queue_waiting") == 1,
                timeout=60,
                what="the streamed request to wait in the node's line",
                every=0.05,
            )
        # Its client left before its first token: it must leave the line now, not when the slot frees.
        wait_until(
            lambda: metric(node, "harvis_llm_node_queue_waiting") == 0,
            timeout=60,
            what="the abandoned request to leave the node's line",
            every=0.05,
        )
        # ... while the slot holder still generates (nothing has finished since it started).
        assert finished() == finished_before, "the line only moved because the slot holder finished"
