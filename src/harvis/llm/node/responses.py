"""Ollama's response shapes, and the ASGI response that streams (or collects) a job.

The response watches the connection while the job runs: when the client leaves, the job
is closed at once (even while it waits in line), which stops its generation.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime
from typing import Any

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from harvis.llm.node.tools import Part
from harvis.llm.types import LLMError

log = logging.getLogger(__name__)
_NDJSON = b"application/x-ndjson"
_JSON = b"application/json; charset=utf-8"


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def chunk(kind: str, model: str, text: str, done: bool, part: Part | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": now_rfc3339()}
    if kind == "chat":
        body["message"] = {"role": "assistant", "content": text}
        if part is not None and part.thinking:
            body["message"]["thinking"] = part.thinking
        if part is not None and part.tool_calls:
            body["message"]["tool_calls"] = part.tool_calls
    else:
        body["response"] = text
        if part is not None and part.thinking:
            body["thinking"] = part.thinking
    body["done"] = done
    return body


def final_chunk(
    kind: str, model: str, text: str, final: dict[str, Any], part: Part | None = None
) -> dict[str, Any]:
    body = chunk(kind, model, text, True, part)
    fields = dict(final)
    context = fields.pop("context", None)
    body.update(fields)
    if kind == "generate" and context is not None:
        body["context"] = context  # deprecated in Ollama, still sent by it
    return body


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class Wire:
    """How one API writes an answer: Ollama's NDJSON here, OpenAI's SSE in openai_wire."""

    def content_type(self, stream: bool) -> bytes:
        return _NDJSON if stream else _JSON

    def piece(self, part: Part) -> bytes:
        raise NotImplementedError

    def final(self, whole: Part, final: dict[str, Any], stream: bool) -> bytes:
        raise NotImplementedError

    def error(self, message: str, status: int, started: bool) -> bytes:
        # After HTTP 200 Ollama sends the error as the last line.
        return error_body(message) + (b"\n" if started else b"")


class OllamaWire(Wire):
    def __init__(self, kind: str, model: str) -> None:
        self.kind, self.model = kind, model

    def piece(self, part: Part) -> bytes:
        return _line(chunk(self.kind, self.model, part.content, False, part))

    def final(self, whole: Part, final: dict[str, Any], stream: bool) -> bytes:
        return _line(final_chunk(self.kind, self.model, whole.content, final, whole))


class JobResponse(Response):
    """Streams (``stream=True``) or answers one JSON object when the job is done."""

    def __init__(
        self,
        events: Callable[[], AsyncGenerator[str | Part | dict[str, Any], None]],
        *,
        kind: str = "chat",
        model: str = "",
        stream: bool,
        on_close: Callable[[], None],
        wire: Wire | None = None,
    ) -> None:
        super().__init__(status_code=200)
        self._events = events
        self._on_close = on_close  # frees the place in line if the job never started
        self._stream = stream
        self._wire = wire or OllamaWire(kind, model)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tg:

            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tg.cancel_scope.cancel()

            tg.start_soon(watch_disconnect)
            await self._respond(send)
            tg.cancel_scope.cancel()

    async def _start(self, send: Send, status: int, content_type: bytes) -> None:
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
        )

    async def _respond(self, send: Send) -> None:
        events = self._events()
        wire = self._wire
        started = False
        # Streaming: the final chunk carries only the tail; otherwise it carries everything.
        whole = Part()
        try:
            async for event in events:
                if isinstance(event, str | Part):
                    part = Part(content=event) if isinstance(event, str) else event
                    if not self._stream:
                        whole.content += part.content
                        whole.thinking += part.thinking
                        whole.tool_calls += part.tool_calls
                        continue
                    if not started:
                        await self._start(send, 200, wire.content_type(True))
                        started = True
                    await send({"type": "http.response.body", "body": wire.piece(part), "more_body": True})
                else:
                    body = wire.final(whole, event, self._stream)
                    if not started:
                        await self._start(send, 200, wire.content_type(self._stream))
                        started = True
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:  # the client gets the API's error shape, never a trace
            status = exc.status if isinstance(exc, LLMError) else 500
            message = exc.message if isinstance(exc, LLMError) else f"llm node error: {exc}"
            if not isinstance(exc, LLMError):
                log.exception("job failed")
            body = wire.error(message, status, started)
            if not started:
                await self._start(send, status, _JSON)
            await send({"type": "http.response.body", "body": body, "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
            self._on_close()
