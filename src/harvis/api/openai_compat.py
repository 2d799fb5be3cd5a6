"""The OpenAI-compatible API: /v1/models and /v1/chat/completions, through the router.

Errors use OpenAI's shape ({"error": {"message", "type", "param", "code"}}) so the official
client raises its usual exceptions; a failure mid-stream is sent as a `data: {"error": …}` line.
"""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Literal

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from harvis.api.deps import CurrentUser, RouterDep
from harvis.api.disconnect import ClientGone, unless_client_leaves
from harvis.api.errors import error_body
from harvis.api.metrics import LLM_STREAMS, LLM_TTFT
from harvis.api.routing import api_router
from harvis.api.schema_docs import COMPLETIONS
from harvis.api.sse import EventStreamResponse, sse_data
from harvis.llm.router import Router
from harvis.llm.types import BadRequest, ChatRequest, Delta, LLMError, StreamEnd, ToolCall

router = api_router(tags=["openai"])


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None
    name: str | None = None


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: dict[str, Any] | None = None


class FunctionDef(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    function: FunctionDef


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
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: str | dict[str, Any] | None = None


def _tool_calls(calls: list[dict[str, Any]], at: int) -> list[dict[str, Any]]:
    """OpenAI's calls (arguments as JSON text) in Ollama's shape (arguments as an object)."""
    out = []
    for call in calls:
        fn = call.get("function") or {}
        args = fn.get("arguments") or "{}"
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            parsed = None
        if not isinstance(fn.get("name"), str) or not isinstance(parsed, dict):
            raise BadRequest(
                f"messages[{at}].tool_calls: each call needs function.name and JSON object arguments"
            )
        out.append({"id": call.get("id") or "", "function": {"name": fn["name"], "arguments": parsed}})
    return out


def _message(m: ChatMessage, at: int) -> dict[str, Any]:
    parts = m.content if isinstance(m.content, list) else []
    if any(p.type in ("image_url", "input_image") for p in parts):
        raise BadRequest(
            f"messages[{at}] has an image: Harvis does not pass images to models (no vision support)"
        )
    content = m.content if isinstance(m.content, str) else "".join(p.text or "" for p in parts)
    out: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": content}
    if m.tool_calls:
        out["tool_calls"] = _tool_calls(m.tool_calls, at)
    if m.role == "tool":
        out["tool_call_id"] = m.tool_call_id or ""
        if m.name:
            out["tool_name"] = m.name
    return out


def _format(rf: ResponseFormat | None) -> str | dict[str, Any] | None:
    if rf is None or rf.type == "text":
        return None
    if rf.type == "json_object":
        return "json"
    schema = (rf.json_schema or {}).get("schema")
    if not isinstance(schema, dict):
        raise BadRequest("response_format.json_schema.schema must be a JSON schema object")
    return schema


def _tool_names(messages: list[dict[str, Any]]) -> None:
    """A tool result names its tool (what Ollama templates read), found from the call's id."""
    names = {c["id"]: c["function"]["name"] for m in messages for c in m.get("tool_calls", []) if c["id"]}
    for m in messages:
        if m["role"] == "tool" and "tool_name" not in m and m.get("tool_call_id") in names:
            m["tool_name"] = names[m["tool_call_id"]]


def to_chat_request(body: CompletionIn) -> ChatRequest:
    messages = [_message(m, i) for i, m in enumerate(body.messages)]
    _tool_names(messages)
    tools = [t.model_dump(exclude_none=True) for t in body.tools or []] if body.tool_choice != "none" else []
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
    return ChatRequest(
        model=body.model,
        messages=messages,
        options=options,
        format=_format(body.response_format),
        tools=tools,
    )


def finish_reason(end: StreamEnd | None, called: bool = False) -> str:
    if called:
        return "tool_calls"
    return "length" if end is not None and end.done_reason == "length" else "stop"


def openai_calls(calls: list[ToolCall], streamed: bool, first: int = 0) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls, start=first):
        entry: dict[str, Any] = {
            "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        if streamed:
            entry["index"] = i
        out.append(entry)
    return out


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


class EmbeddingsIn(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    input: str | list[str] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] = "float"


@router.post("/v1/embeddings")
async def embeddings(body: EmbeddingsIn, user: CurrentUser, llm: RouterDep) -> dict[str, Any]:
    """Routed like chat: a deployment of the model embeds, its own vectors come back."""
    inputs = [body.input] if isinstance(body.input, str) else body.input
    vectors, tokens, _ = await llm.embed(body.model, inputs)

    def encode(v: list[float]) -> str | list[float]:
        if body.encoding_format == "float":
            return v
        return base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode()

    return {
        "object": "list",
        "data": [{"object": "embedding", "embedding": encode(v), "index": i} for i, v in enumerate(vectors)],
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@router.post("/v1/chat/completions", response_model=None, responses=COMPLETIONS)
async def chat_completions(body: CompletionIn, user: CurrentUser, llm: RouterDep, http: Request) -> Any:
    request = to_chat_request(body)
    cid = "chatcmpl-" + uuid.uuid4().hex
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        start = time.perf_counter()
        stream = llm.stream_chat(request)
        # Wait for the first item before answering, so that "no such model" or "no capacity"
        # arrive as HTTP statuses (what OpenAI clients expect), not as a 200 that then fails.
        try:
            # Waiting in line (maybe long) for the first token ends if the client leaves meanwhile.
            first: Delta | StreamEnd | None = await unless_client_leaves(http, anext(stream))
        except StopAsyncIteration:
            first = None
        except ClientGone:
            await stream.aclose()
            raise
        except LLMError:
            LLM_STREAMS.labels("openai", "error").inc()
            await stream.aclose()
            raise
        return EventStreamResponse(_stream(stream, first, request, cid, include_usage, start))
    return await unless_client_leaves(http, _complete(llm, request, cid))


async def _complete(llm: Router, request: ChatRequest, cid: str) -> JSONResponse:
    start = time.perf_counter()
    content: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    end: StreamEnd | None = None
    try:
        async for item in llm.stream_chat(request):
            if isinstance(item, Delta):
                content.append(item.content)
                reasoning.append(item.reasoning)
                calls.extend(item.tool_calls)
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
    if calls:
        message["tool_calls"] = openai_calls(calls, streamed=False)
    return JSONResponse(
        {
            "id": cid,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": end.model if end else request.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": finish_reason(end, bool(calls)),
                    "logprobs": None,
                }
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
    ncalls = 0
    try:
        async for item in _chain(first_item, stream):
            if isinstance(item, StreamEnd):
                end = item
                continue
            if not isinstance(item, Delta) or not (item.content or item.reasoning or item.tool_calls):
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
            if item.tool_calls:
                delta["tool_calls"] = openai_calls(list(item.tool_calls), streamed=True, first=ncalls)
                ncalls += len(item.tool_calls)
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
            cid,
            end.model if end else model,
            {} if not first else {"role": "assistant"},
            finish_reason(end, ncalls > 0),
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
