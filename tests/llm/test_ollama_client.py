"""The Ollama client against a real HTTP server speaking Ollama's protocol."""

from __future__ import annotations

from typing import Any

import pytest

from harvis.llm.ollama_client import OllamaClient
from harvis.llm.types import (
    BadRequest,
    ModelNotFound,
    NoCapacity,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from harvis.llm.upstream import ChatChunk
from tests.llm.util import until
from tests.support.fake_ollama import Behaviour, FakeOllama
from tests.support.processes import free_port

MSG = [{"role": "user", "content": "hi"}]


async def collect(client: OllamaClient, model: str = "smollm2:135m", **kw: Any) -> list[ChatChunk]:
    return [c async for c in client.stream_chat(model, MSG, **kw)]


async def test_streams_chunks_then_done_with_counts(fake: FakeOllama) -> None:
    client = OllamaClient(fake.url)
    try:
        chunks = await collect(client, keep_alive="-1", options={"temperature": 0})
    finally:
        await client.aclose()
    assert "".join(c.content for c in chunks) == "Hello from fake."
    assert chunks[-1].done and chunks[-1].done_reason == "stop"
    assert chunks[-1].prompt_tokens == 3 and chunks[-1].completion_tokens == 4
    body = fake.chats()[-1].body
    assert body["keep_alive"] == "-1" and body["stream"] is True and body["options"] == {"temperature": 0}


async def test_thinking_field_is_kept_apart(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(thinking=["hmm", " ok"], chunks=["4"])
    client = OllamaClient(fake.url)
    try:
        chunks = await collect(client)
    finally:
        await client.aclose()
    assert "".join(c.thinking for c in chunks) == "hmm ok"
    assert "".join(c.content for c in chunks) == "4"


@pytest.mark.parametrize(
    ("status", "error_cls"),
    [(404, ModelNotFound), (503, NoCapacity), (400, BadRequest), (500, UpstreamError)],
)
async def test_status_codes_map_to_error_classes(fake: FakeOllama, status: int, error_cls: type) -> None:
    fake.behaviour = Behaviour(status=status, error="server busy, please try again")
    client = OllamaClient(fake.url)
    try:
        with pytest.raises(error_cls) as info:
            await collect(client)
    finally:
        await client.aclose()
    assert "server busy" in str(info.value)


async def test_unknown_model_is_404_from_the_node(fake: FakeOllama) -> None:
    client = OllamaClient(fake.url)
    try:
        with pytest.raises(ModelNotFound, match="not found"):
            await collect(client, model="nope:1b")
    finally:
        await client.aclose()


async def test_error_line_after_200_raises_after_the_chunks_before_it(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(error_after=2, error="CUDA out of memory")
    client = OllamaClient(fake.url)
    got: list[str] = []
    try:
        with pytest.raises(UpstreamError, match="CUDA out of memory"):
            async for chunk in client.stream_chat("smollm2:135m", MSG):
                got.append(chunk.content)
    finally:
        await client.aclose()
    assert got == ["Hello", " from"]


async def test_connection_cut_mid_stream_is_an_upstream_error(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(cut_after=1)
    client = OllamaClient(fake.url)
    got: list[str] = []
    try:
        with pytest.raises(UpstreamError):
            async for chunk in client.stream_chat("smollm2:135m", MSG):
                got.append(chunk.content)
    finally:
        await client.aclose()
    assert got == ["Hello"]


async def test_refused_connection_is_unavailable() -> None:
    client = OllamaClient(f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(Unavailable, match="cannot connect"):
            await collect(client)
    finally:
        await client.aclose()


async def test_first_byte_limit_is_separate_from_chunk_limit(fake: FakeOllama) -> None:
    # A slow first byte (a cold load) within its limit is fine even if it exceeds the chunk limit.
    fake.behaviour = Behaviour(first_byte_delay_s=0.4)
    client = OllamaClient(fake.url, first_byte_timeout_s=5, chunk_timeout_s=0.2)
    try:
        assert "".join(c.content for c in await collect(client)) == "Hello from fake."
        with pytest.raises(UpstreamTimeout, match=r"no answer within 0\.1s"):
            await collect(client, first_byte_timeout_s=0.1)
    finally:
        await client.aclose()


async def test_stall_between_chunks_hits_the_chunk_limit(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(stall_after=2)
    client = OllamaClient(fake.url, first_byte_timeout_s=5, chunk_timeout_s=0.3)
    try:
        with pytest.raises(UpstreamTimeout, match=r"no next chunk within 0\.3s"):
            await collect(client)
        # Still stalled: the server can only see us leave, not finish the answer first.
        await until(lambda: fake.chats()[-1].client_left)
    finally:
        fake.release.set()
        await client.aclose()


async def test_consumer_that_stops_early_closes_the_response(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(stall_after=1)
    client = OllamaClient(fake.url)
    try:
        stream = client.stream_chat("smollm2:135m", MSG)
        first = await anext(stream)
        assert first.content == "Hello"
        await stream.aclose()  # barge-in
        await until(lambda: fake.chats()[-1].client_left)
        assert not fake.chats()[-1].finished
    finally:
        fake.release.set()
        await client.aclose()


async def test_load_ps_tags_version(fake: FakeOllama) -> None:
    client = OllamaClient(fake.url)
    try:
        assert await client.ps() == []
        await client.load("smollm2:135m", "-1")
        assert [m["name"] for m in await client.ps()] == ["smollm2:135m"]
        load = {"model": "smollm2:135m", "messages": [], "stream": False, "keep_alive": "-1"}
        assert fake.seen[-1].body == load
        assert {m["name"] for m in await client.tags()} == {"smollm2:135m", "other:1b"}
        assert await client.version() == "0.0.0-fake"
    finally:
        await client.aclose()
