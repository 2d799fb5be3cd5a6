"""A small async client for OpenAI-compatible chat completions (cloud fallback).

Streams `/chat/completions` as server-sent events and maps failures by HTTP status, the
same way the Ollama client does, so the router treats both alike.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from harvis.llm.ollama_client import error_text, retry_after_s
from harvis.llm.types import (
    BadRequest,
    LLMError,
    ModelNotFound,
    NoCapacity,
    ToolCall,
    Unavailable,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
)
from harvis.llm.upstream import ChatChunk, lines_within_limits

DEFAULT_API_BASE = "https://api.openai.com/v1"


def openai_error_for_status(status: int, message: str, *, retry_after: float | None = None) -> LLMError:
    if status in (401, 403):
        return UpstreamAuthError(message)
    if status == 404:
        return ModelNotFound(message)
    if status in (400, 422):
        return BadRequest(message)
    if status in (429, 503):
        return NoCapacity(message, retry_after=retry_after)
    return UpstreamError(f"HTTP {status}: {message}")


def _openai_options(options: dict[str, Any] | None, format: str | dict[str, Any] | None) -> dict[str, Any]:
    """Ollama option names → OpenAI request fields (the ones both sides have)."""
    out: dict[str, Any] = {}
    for key in ("temperature", "top_p", "seed", "stop", "frequency_penalty", "presence_penalty"):
        if options and key in options:
            out[key] = options[key]
    if options and "num_predict" in options and int(options["num_predict"]) > 0:
        out["max_tokens"] = int(options["num_predict"])
    if format == "json":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(format, dict):  # a JSON schema, as Ollama's `format` takes it
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": format},
        }
    return out


class OpenAIClient:
    def __init__(
        self,
        api_base: str = DEFAULT_API_BASE,
        api_key: str | None = None,
        *,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 60.0,
        chunk_timeout_s: float = 60.0,
    ) -> None:
        self.base_url = api_base.rstrip("/")
        self.first_byte_timeout_s = first_byte_timeout_s
        self.chunk_timeout_s = chunk_timeout_s
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(connect=connect_timeout_s, read=None, write=connect_timeout_s, pool=None)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,  # an Ollama notion; OpenAI servers have none
        format: str | dict[str, Any] | None = None,
        first_byte_timeout_s: float | None = None,
        tools: list[dict[str, Any]] | None = None,
        think: bool | None = None,  # no OpenAI-wide switch: reasoning comes when the model does it
    ) -> AsyncGenerator[ChatChunk, None]:
        body = {"model": model, "messages": openai_messages(messages), "stream": True}
        body.update(_openai_options(options, format))
        if tools:
            body["tools"] = tools
        body["stream_options"] = {"include_usage": True}
        first_limit = first_byte_timeout_s or self.first_byte_timeout_s
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + first_limit
        request = self._http.build_request("POST", "/chat/completions", json=body)
        try:
            async with asyncio.timeout_at(first_deadline):
                response = await self._http.send(request, stream=True)
        except TimeoutError:
            raise UpstreamTimeout(f"{self.base_url}: no answer within {first_limit:g}s") from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unavailable(f"{self.base_url}: cannot connect: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.base_url}: request failed: {exc!r}") from exc
        try:
            if response.status_code != 200:
                try:
                    async with asyncio.timeout(self.chunk_timeout_s):
                        raw = await response.aread()
                except (TimeoutError, httpx.HTTPError):
                    raw = b""
                raise openai_error_for_status(
                    response.status_code,
                    f"{self.base_url}: {error_text(raw) or response.reason_phrase}",
                    retry_after=retry_after_s(response.headers),
                )
            async for chunk in self._events(response, first_deadline, first_limit):
                yield chunk
        finally:
            await response.aclose()

    async def embed(self, model: str, inputs: list[str]) -> tuple[list[list[float]], int]:
        """`/embeddings` with float vectors, and the tokens it read."""
        body = {"model": model, "input": inputs, "encoding_format": "float"}
        try:
            async with asyncio.timeout(self.first_byte_timeout_s):
                response = await self._http.post("/embeddings", json=body)
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.base_url}: no answer within {self.first_byte_timeout_s:g}s"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise Unavailable(f"{self.base_url}: cannot connect: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.base_url}: request failed: {exc!r}") from exc
        if response.status_code != 200:
            raise openai_error_for_status(
                response.status_code,
                f"{self.base_url}: {error_text(response.content) or response.reason_phrase}",
                retry_after=retry_after_s(response.headers),
            )
        try:
            data = response.json()
            rows = sorted(data["data"], key=lambda d: d.get("index", 0))
            vectors = [list(map(float, d["embedding"])) for d in rows]
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(f"{self.base_url}/embeddings: unexpected answer ({exc!r})") from None
        return vectors, int((data.get("usage") or {}).get("prompt_tokens") or 0)

    async def _events(
        self, response: httpx.Response, first_deadline: float, first_limit: float
    ) -> AsyncGenerator[ChatChunk, None]:
        finish = ""
        calls: dict[int, dict[str, str]] = {}  # streamed tool calls come in pieces, by index
        usage = (0, 0)
        async with aclosing(
            lines_within_limits(
                response,
                base_url=self.base_url,
                first_deadline=first_deadline,
                first_limit=first_limit,
                chunk_limit=self.chunk_timeout_s,
                counts=lambda line: line.startswith("data:"),
                # blank separators, comments and `event:` lines don't count
                ended="stream ended without [DONE]",
            )
        ) as lines:
            async for line in lines:
                payload = line[5:].strip()
                if payload == "[DONE]":
                    if calls:
                        yield ChatChunk(tool_calls=self._finished_calls(calls))
                    yield ChatChunk(
                        done=True,
                        done_reason=finish or "stop",
                        prompt_tokens=usage[0],
                        completion_tokens=usage[1],
                    )
                    return
                try:
                    data = json.loads(payload)
                except ValueError:
                    raise UpstreamError(f"{self.base_url}: bad event: {payload[:200]!r}") from None
                if "error" in data:
                    raise UpstreamError(f"{self.base_url}: {json.dumps(data['error'])[:300]}")
                if data.get("usage"):
                    usage = (
                        int(data["usage"].get("prompt_tokens") or 0),
                        int(data["usage"].get("completion_tokens") or 0),
                    )
                for choice in data.get("choices") or []:
                    delta = choice.get("delta") or {}
                    finish = choice.get("finish_reason") or finish
                    for piece in delta.get("tool_calls") or []:
                        into = calls.setdefault(
                            int(piece.get("index", len(calls))), {"id": "", "name": "", "args": ""}
                        )
                        fn = piece.get("function") or {}
                        into["id"] = piece.get("id") or into["id"]
                        into["name"] += fn.get("name") or ""
                        into["args"] += fn.get("arguments") or ""
                    thinking = delta.get("reasoning_content") or delta.get("reasoning") or ""
                    if delta.get("content") or thinking:
                        yield ChatChunk(content=delta.get("content") or "", thinking=thinking)

    def _finished_calls(self, calls: dict[int, dict[str, str]]) -> tuple[ToolCall, ...]:
        out = []
        for _, call in sorted(calls.items()):
            try:
                args = json.loads(call["args"]) if call["args"].strip() else {}
            except ValueError:
                args = None
            if not call["name"]:
                raise UpstreamError(
                    f"{self.base_url}: the model called a tool without a name: {call['args'][:200]!r}"
                )
            if isinstance(args, dict):
                out.append(ToolCall(call["name"], args, call["id"]))
            else:  # the model's mistake: the tool loop tells it, the answer goes on
                out.append(ToolCall(call["name"], {}, call["id"], invalid_arguments=call["args"][:2000]))
        return tuple(out)


def openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ollama-shaped history → OpenAI's: call arguments as JSON text with ids, results by id."""
    out: list[dict[str, Any]] = []
    last_ids: list[str] = []
    for m in messages:
        msg: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            last_ids = []
            msg["tool_calls"] = []
            for i, call in enumerate(m["tool_calls"]):
                fn = call.get("function", call)
                cid = call.get("id") or f"call_{len(out)}_{i}"
                last_ids.append(cid)
                args = fn.get("arguments", {})
                msg["tool_calls"].append(
                    {
                        "id": cid,
                        "type": "function",
                        "function": {
                            "name": fn["name"],
                            "arguments": args if isinstance(args, str) else json.dumps(args),
                        },
                    }
                )
        if m["role"] == "tool":
            msg["tool_call_id"] = m.get("tool_call_id") or (last_ids.pop(0) if last_ids else "")
        out.append(msg)
    return out
