"""A small async client for one Ollama-API server (real Ollama or `harvis llm-node`).

Three separate limits: connecting, the first byte (long: a cold model load happens before
it, and Ollama keeps loading only while we wait), and the gap between chunks. Every failure
is an LLMError subclass the router can act on: 503 = busy, try elsewhere; 404 = not on this
node; connection refused = node down. Reading happens inside try/finally so a consumer that
stops early (barge-in) closes the HTTP response and the node stops generating.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from harvis.llm.types import (
    BadRequest,
    LLMError,
    ModelNotFound,
    NoCapacity,
    ToolCall,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from harvis.llm.upstream import ChatChunk, lines_within_limits

# Small requests (/api/ps, /api/tags, /api/version) are answered at once by a live node.
INFO_TIMEOUT_S = 5.0


def error_for_status(status: int, message: str, *, retry_after: float | None = None) -> LLMError:
    """Map an Ollama HTTP status to the router's error classes."""
    if status == 404:
        return ModelNotFound(message)
    if status in (400, 422):
        return BadRequest(message)
    if status in (429, 503):
        return NoCapacity(message, retry_after=retry_after)
    return UpstreamError(f"HTTP {status}: {message}")


def error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:300]
    if isinstance(data, dict) and "error" in data:
        err = data["error"]
        return err if isinstance(err, str) else json.dumps(err)[:300]
    return body.decode(errors="replace")[:300]


def retry_after_s(headers: httpx.Headers) -> float | None:
    try:
        return float(headers["retry-after"])
    except (KeyError, ValueError):
        return None


class OllamaClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 5.0,
        first_byte_timeout_s: float = 300.0,
        chunk_timeout_s: float = 60.0,
        max_connections: int = 256,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.first_byte_timeout_s = first_byte_timeout_s
        self.chunk_timeout_s = chunk_timeout_s
        # read=None: the first-byte and between-chunk limits are enforced per read below,
        # because httpx has only one read timeout for both.
        timeout = httpx.Timeout(connect=connect_timeout_s, read=None, write=connect_timeout_s, pool=None)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=64)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, limits=limits)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
        format: str | dict[str, Any] | None = None,
        first_byte_timeout_s: float | None = None,
        tools: list[dict[str, Any]] | None = None,
        think: bool | None = None,
    ) -> AsyncGenerator[ChatChunk, None]:
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
        if tools:
            body["tools"] = tools
        if think is not None:
            body["think"] = think
        if options:
            body["options"] = options
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        if format:
            body["format"] = format
        first_limit = first_byte_timeout_s or self.first_byte_timeout_s
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + first_limit
        response = await self._send("/api/chat", body, first_deadline, first_limit)
        try:
            if response.status_code != 200:
                raise await self._status_error(response)
            lines = lines_within_limits(
                response,
                base_url=self.base_url,
                first_deadline=first_deadline,
                first_limit=first_limit,
                chunk_limit=self.chunk_timeout_s,
                counts=bool,
                ended="stream ended before done",
            )
            async with aclosing(lines):
                async for line in lines:
                    chunk = self._parse_line(line)
                    yield chunk
                    if chunk.done:
                        return
        finally:
            await response.aclose()

    def _parse_line(self, line: str) -> ChatChunk:
        try:
            data = json.loads(line)
        except ValueError:
            raise UpstreamError(f"{self.base_url}: not JSON: {line[:200]!r}") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"{self.base_url}: unexpected line: {line[:200]!r}")
        if "error" in data:
            # Ollama reports failures found after it sent 200 as one {"error": ...} line.
            raise UpstreamError(f"{self.base_url}: {data['error']}")
        message = data.get("message") or {}
        done = bool(data.get("done"))
        return ChatChunk(
            content=message.get("content") or "",
            thinking=message.get("thinking") or "",
            done=done,
            done_reason=data.get("done_reason") or ("stop" if done else ""),
            prompt_tokens=int(data.get("prompt_eval_count") or 0),
            completion_tokens=int(data.get("eval_count") or 0),
            tool_calls=self._tool_calls(message.get("tool_calls")),
        )

    def _tool_calls(self, raw: Any) -> tuple[ToolCall, ...]:
        calls = []
        for call in raw or []:
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise UpstreamError(
                    f"{self.base_url}: the model made a malformed tool call: {str(call)[:200]}"
                )
            args = fn.get("arguments", {})
            parsed = args
            if isinstance(args, str):
                try:
                    parsed = json.loads(args) if args.strip() else {}
                except ValueError:
                    parsed = None
            call_id = str(call.get("id") or "")
            if isinstance(parsed, dict):
                calls.append(ToolCall(fn["name"], parsed, call_id))
            else:  # the model's mistake: the tool loop tells it, the answer goes on
                raw = args if isinstance(args, str) else json.dumps(args)
                calls.append(ToolCall(fn["name"], {}, call_id, invalid_arguments=raw[:2000]))
        return tuple(calls)

    async def _send(self, path: str, body: dict[str, Any], deadline: float, limit: float) -> httpx.Response:
        request = self._http.build_request("POST", path, json=body)
        try:
            async with asyncio.timeout_at(deadline):
                return await self._http.send(request, stream=True)
        except TimeoutError:
            raise UpstreamTimeout(f"{self.base_url}: no answer within {limit:g}s") from None
        except httpx.ConnectTimeout as exc:
            raise Unavailable(f"{self.base_url}: connect timed out") from exc
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise Unavailable(f"{self.base_url}: cannot connect: {exc}") from exc
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{self.base_url}: request failed: {exc!r}") from exc

    async def _status_error(self, response: httpx.Response) -> LLMError:
        try:
            async with asyncio.timeout(self.chunk_timeout_s):
                body = await response.aread()
        except (TimeoutError, httpx.HTTPError):
            body = b""
        text = error_text(body) or response.reason_phrase
        return error_for_status(
            response.status_code, f"{self.base_url}: {text}", retry_after=retry_after_s(response.headers)
        )

    async def load(self, model: str, keep_alive: str | int | None) -> None:
        """Ask the node to load `model` (an empty chat), waiting as long as a cold load takes."""
        body: dict[str, Any] = {"model": model, "messages": [], "stream": False}
        if keep_alive is not None:
            body["keep_alive"] = keep_alive
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_byte_timeout_s
        response = await self._send("/api/chat", body, deadline, self.first_byte_timeout_s)
        try:
            if response.status_code != 200:
                raise await self._status_error(response)
            async with asyncio.timeout_at(deadline):
                await response.aread()
        finally:
            await response.aclose()

    async def embed(self, model: str, inputs: list[str]) -> tuple[list[list[float]], int]:
        """`/api/embed`: one normalized vector per input, and the tokens it read."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.first_byte_timeout_s
        body = {"model": model, "input": inputs}
        response = await self._send("/api/embed", body, deadline, self.first_byte_timeout_s)
        try:
            if response.status_code != 200:
                raise await self._status_error(response)
            async with asyncio.timeout_at(deadline):
                data = json.loads(await response.aread())
        except (TimeoutError, ValueError) as exc:
            raise UpstreamError(f"{self.base_url}/api/embed: no usable answer ({exc!r})") from None
        finally:
            await response.aclose()
        return [list(map(float, v)) for v in data.get("embeddings") or []], int(
            data.get("prompt_eval_count") or 0
        )

    async def _get_json(self, path: str) -> dict[str, Any]:
        try:
            response = await self._http.get(path, timeout=INFO_TIMEOUT_S)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(f"{self.base_url}{path}: timed out") from exc
        except httpx.HTTPError as exc:
            raise Unavailable(f"{self.base_url}{path}: {exc!r}") from exc
        if response.status_code != 200:
            text = error_text(response.content)
            raise error_for_status(response.status_code, f"{self.base_url}{path}: {text}")
        try:
            data = response.json()
        except ValueError:
            raise UpstreamError(f"{self.base_url}{path}: not JSON") from None
        if not isinstance(data, dict):
            raise UpstreamError(f"{self.base_url}{path}: unexpected body")
        return data

    async def ps(self) -> list[dict[str, Any]]:
        """Models loaded right now (`/api/ps`)."""
        return list((await self._get_json("/api/ps")).get("models") or [])

    async def tags(self) -> list[dict[str, Any]]:
        """Models the node has (`/api/tags`)."""
        return list((await self._get_json("/api/tags")).get("models") or [])

    async def version(self) -> str:
        return str((await self._get_json("/api/version")).get("version", ""))
