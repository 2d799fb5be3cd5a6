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

from harvis.llm.types import LLMError

log = logging.getLogger(__name__)
_NDJSON = b"application/x-ndjson"
_JSON = b"application/json; charset=utf-8"


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def chunk(kind: str, model: str, text: str, done: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "created_at": now_rfc3339()}
    if kind == "chat":
        body["message"] = {"role": "assistant", "content": text}
    else:
        body["response"] = text
    body["done"] = done
    return body


def final_chunk(kind: str, model: str, text: str, final: dict[str, Any]) -> dict[str, Any]:
    body = chunk(kind, model, text, True)
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


class JobResponse(Response):
    """Streams NDJSON (``stream=True``) or answers one JSON object when the job is done."""

    def __init__(
        self,
        events: Callable[[], AsyncGenerator[str | dict[str, Any], None]],
        *,
        kind: str,
        model: str,
        stream: bool,
        on_close: Callable[[], None],
    ) -> None:
        super().__init__(status_code=200)
        self._events = events
        self._on_close = on_close  # frees the place in line if the job never started
        self._kind, self._model, self._stream = kind, model, stream

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
        started = False
        text: list[str] = []
        try:
            async for event in events:
                if isinstance(event, str):
                    if not self._stream:
                        text.append(event)
                        continue
                    if not started:
                        await self._start(send, 200, _NDJSON)
                        started = True
                    line = _line(chunk(self._kind, self._model, event, False))
                    await send({"type": "http.response.body", "body": line, "more_body": True})
                else:
                    body = _line(final_chunk(self._kind, self._model, "".join(text), event))
                    if not started:
                        await self._start(send, 200, _NDJSON if self._stream else _JSON)
                        started = True
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:  # the client gets Ollama's error shape, never a trace
            status = exc.status if isinstance(exc, LLMError) else 500
            message = exc.message if isinstance(exc, LLMError) else f"llm node error: {exc}"
            if not isinstance(exc, LLMError):
                log.exception("job failed")
            if started:  # after HTTP 200 Ollama sends the error as the last line
                line = error_body(message) + b"\n"
                await send({"type": "http.response.body", "body": line, "more_body": False})
            else:
                await self._start(send, status, _JSON)
                await send({"type": "http.response.body", "body": error_body(message), "more_body": False})
        finally:
            with anyio.CancelScope(shield=True):
                await events.aclose()
            self._on_close()
