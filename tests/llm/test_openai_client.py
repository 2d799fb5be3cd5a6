"""The OpenAI-compatible client: SSE parsing and errors by status (scripted responder; the
real llama_cpp.server is used in test_router_nodes.py)."""

from __future__ import annotations

from typing import Any

import pytest

from harvis.llm.openai_client import OpenAIClient
from harvis.llm.types import (
    BadRequest,
    ModelNotFound,
    NoCapacity,
    UpstreamAuthError,
    UpstreamError,
)
from harvis.llm.upstream import ChatChunk
from tests.support.fake_ollama import Behaviour, FakeOllama

MSG = [{"role": "user", "content": "hi"}]


async def collect(fake: FakeOllama, key: str = "sk-good", **kw: Any) -> list[ChatChunk]:
    client = OpenAIClient(f"{fake.url}/v1", key)
    try:
        return [c async for c in client.stream_chat("gpt-4o", MSG, **kw)]
    finally:
        await client.aclose()


async def test_streams_content_reasoning_usage_and_maps_options(fake: FakeOllama) -> None:
    fake.api_key = "sk-good"
    fake.behaviour = Behaviour(thinking=["why"], chunks=["Hel", "lo"])
    try:
        chunks = await collect(
            fake, options={"temperature": 0.2, "num_predict": 9, "seed": 1, "num_ctx": 99}, format="json"
        )
    finally:
        fake.api_key = None
    assert "".join(c.content for c in chunks) == "Hello"
    assert "".join(c.thinking for c in chunks) == "why"
    end = chunks[-1]
    assert end.done and end.done_reason == "stop" and (end.prompt_tokens, end.completion_tokens) == (3, 2)
    body = fake.seen[-1].body
    assert body["temperature"] == 0.2 and body["max_tokens"] == 9 and body["seed"] == 1
    assert "num_ctx" not in body and body["response_format"] == {"type": "json_object"}
    assert body["stream"] is True


async def test_wrong_key_is_an_auth_error(fake: FakeOllama) -> None:
    fake.api_key = "sk-good"
    try:
        with pytest.raises(UpstreamAuthError, match="Incorrect API key"):
            await collect(fake, key="sk-bad")
    finally:
        fake.api_key = None


@pytest.mark.parametrize(
    ("status", "error_cls"),
    [(429, NoCapacity), (503, NoCapacity), (404, ModelNotFound), (400, BadRequest), (500, UpstreamError)],
)
async def test_status_codes(fake: FakeOllama, status: int, error_cls: type) -> None:
    fake.behaviour = Behaviour(status=status, error="quota exceeded")
    with pytest.raises(error_cls, match="quota exceeded") as info:
        await collect(fake)
    if status == 429:
        assert getattr(info.value, "retry_after", None) == 7


async def test_error_event_mid_stream_and_cut_connection(fake: FakeOllama) -> None:
    fake.behaviour = Behaviour(error_after=1, error="overloaded")
    with pytest.raises(UpstreamError, match="overloaded"):
        await collect(fake)
    fake.behaviour = Behaviour(cut_after=1)
    with pytest.raises(UpstreamError, match="stream failed"):
        await collect(fake)
