"""The OpenAI-compatible API: /v1/models and /v1/chat/completions, through the router.

Errors use OpenAI's shape ({"error": {"message", "type", "param", "code"}}) so the official
client raises its usual exceptions; a failure mid-stream is sent as a `data: {"error": …}` line.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Literal

import anyio
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from harvis.api.deps import CurrentUser, RouterDep
from harvis.api.errors import error_body
from harvis.api.metrics import LLM_STREAMS, LLM_TTFT
from harvis.api.routing import api_router
from harvis.api.schema_docs import COMPLETIONS
from harvis.api.sse import EventStreamResponse, sse_data
from harvis.llm.router import Router
from harvis.llm.types import ChatRequest, Delta, LLMError, StreamEnd

router = api_router(tags=["openai"])


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # clients send fields we do not use
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    response_format: ResponseFormat | None = None
    stream_options: StreamOptions | None = None


def to_chat_request(body: CompletionIn) -> ChatRequest:
    messages = []
    for m in body.messages:
        content = m.content if isinstance(m.content, str) else "".join(p.text or "" for p in m.content or [])
        role = {"developer": "system", "tool": "user"}.get(m.role, m.role)
        messages.append({"role": role, "content": content})
    options: dict[str, Any] = {}
    for key, value in (
        ("temperature", body.temperature),
        ("top_p", body.top_p),
        ("seed", body.seed),
        ("num_predict", body.max_completion_tokens or body.max_tokens),
    ):
        if value is not None:
            options[key] = value
    if body.stop is not None:
        options["stop"] = [body.stop] if isinstance(body.stop, str) else body.stop
    json_mode = body.response_format is not None and body.response_format.type in (
        "json_object",
        "json_schema",
    )
    return ChatRequest(
        model=body.model, messages=messages, options=options, format="json" if json_mode else None
    )


def finish_reason(end: StreamEnd | None) -> str:
    return "length" if end is not None and end.done_reason == "length" else "stop"


def usage(end: StreamEnd | None) -> dict[str, int]:
    p, c = (end.prompt_tokens, end.completion_tokens) if end else (0, 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


@router.get("/v1/models")
async def list_models(user: CurrentUser, llm: RouterDep) -> dict[str, Any]:
    infos = await llm.list_models()
    names = sorted({m.name for m in infos})
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "harvis"} for n in names],
    }


@router.post("/v1/chat/completions", response_model=None, responses=COMPLETIONS)
async def chat_completions(body: CompletionIn, user: CurrentUser, llm: RouterDep) -> Any:
    request = to_chat_request(body)
    cid = "chatcmpl-" + uuid.uuid4().hex
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        start = time.perf_counter()
        stream = llm.stream_chat(request)
        # Wait for the first item before answering, so that "no such model" or "no capacity"
        # arrive as HTTP statuses (what OpenAI clients expect), not as a 200 that then fails.
        try:
            first: Delta | StreamEnd | None = await anext(stream)
        except StopAsyncIteration:
            first = None
        except LLMError:
            LLM_STREAMS.labels("openai", "error").inc()
            await stream.aclose()
            raise
        return EventStreamResponse(_stream(stream, first, request, cid, include_usage, start))
    return await _complete(llm, request, cid)


async def _complete(llm: Router, request: ChatRequest, cid: str) -> JSONResponse:
    start = time.perf_counter()
    content: list[str] = []
    reasoning: list[str] = []
    end: StreamEnd | None = None
    try:
        async for item in llm.stream_chat(request):
            if isinstance(item, Delta):
                content.append(item.content)
                reasoning.append(item.reasoning)
            elif isinstance(item, StreamEnd):
                end = item
    except LLMError:
        LLM_STREAMS.labels("openai", "error").inc()
        raise
    LLM_STREAMS.labels("openai", "complete").inc()
    LLM_TTFT.labels("openai", request.model).observe(
        end.ttft_s if end and end.ttft_s else time.perf_counter() - start
    )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
    if any(reasoning):
        message["reasoning_content"] = "".join(reasoning)
    return JSONResponse(
        {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": end.model if end else request.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish_reason(end), "logprobs": None}
            ],
            "usage": usage(end),
        }
    )


def _chunk(cid: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


async def _chain(
    first: Delta | StreamEnd | None, rest: AsyncGenerator[Delta | StreamEnd, None]
) -> AsyncGenerator[Delta | StreamEnd, None]:
    if first is not None:
        yield first
    async for item in rest:
        yield item


async def _stream(
    stream: AsyncGenerator[Delta | StreamEnd, None],
    first_item: Delta | StreamEnd | None,
    request: ChatRequest,
    cid: str,
    include_usage: bool,
    start: float,
) -> AsyncGenerator[bytes, None]:
    model = request.model
    end: StreamEnd | None = None
    first = True
    try:
        async for item in _chain(first_item, stream):
            if isinstance(item, StreamEnd):
                end = item
                continue
            if not isinstance(item, Delta) or not (item.content or item.reasoning):
                continue
            delta: dict[str, Any] = {}
            if first:
                LLM_TTFT.labels("openai", model).observe(time.perf_counter() - start)
                delta["role"] = "assistant"
                first = False
            if item.content:
                delta["content"] = item.content
            if item.reasoning:
                delta["reasoning_content"] = item.reasoning
            yield sse_data(_chunk(cid, model, delta))
    except LLMError as exc:
        LLM_STREAMS.labels("openai", "error").inc()
        yield sse_data(error_body(exc.status, exc.code, exc.message, openai=True))
        return
    finally:
        with anyio.CancelScope(shield=True):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
    LLM_STREAMS.labels("openai", "complete").inc()
    yield sse_data(
        _chunk(
            cid, end.model if end else model, {} if not first else {"role": "assistant"}, finish_reason(end)
        )
    )
    if include_usage:
        yield sse_data(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": end.model if end else model,
                "choices": [],
                "usage": usage(end),
            }
        )
    yield sse_data("[DONE]")
