"""An Ollama-API responder for tests: a real HTTP server on 127.0.0.1 in a thread.

It speaks Ollama's wire protocol (NDJSON chat stream, `{"error": ...}` bodies and lines,
404/503/500, /api/ps, /api/tags, /api/version) and can misbehave on request: slow first
byte, stall between chunks, an error line after HTTP 200, a connection cut mid-stream.
It also answers OpenAI's `/v1/chat/completions` (SSE) with the same script, for the cloud
client's error cases (401, 429 + Retry-After, an error event mid-stream).
It records what it was sent and whether the client went away before the end.
Stand-in only for the fault cases a real node cannot be told to produce.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.processes import free_port


class CutConnection(Exception):
    """Raised inside the body stream: uvicorn drops the connection mid-body."""


@dataclass
class Behaviour:
    status: int = 200  # != 200: answer {"error": error} with this status
    error: str = "boom"
    chunks: list[str] = field(default_factory=lambda: ["Hello", " from", " fake", "."])
    thinking: list[str] = field(default_factory=list)  # sent first, in message.thinking
    first_byte_delay_s: float = 0.0
    chunk_delay_s: float = 0.0
    error_after: int | None = None  # after this many chunks: an {"error": ...} line
    cut_after: int | None = None  # after this many chunks: drop the connection
    stall_after: int | None = None  # after this many chunks: send nothing more (until released)


@dataclass
class Seen:
    body: dict[str, Any]
    finished: bool = False  # the whole answer was written
    client_left: bool = False  # the client went away before the end


class FakeOllama:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        models: tuple[str, ...] = ("smollm2:135m",),
        loaded: tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.models = list(models)
        self.loaded = list(loaded)
        self.behaviour = Behaviour()
        self.per_model: dict[str, Behaviour] = {}
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()  # ends every stall
        self.api_key: str | None = None  # for /v1: require "Authorization: Bearer <api_key>"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- the app ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self._root, methods=["GET", "HEAD"]),
                Route("/api/version", self._version),
                Route("/api/tags", self._tags),
                Route("/api/ps", self._ps),
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
            ]
        )

    async def _root(self, request: Request) -> Response:
        return Response("Ollama is running", media_type="text/plain")

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"version": "0.0.0-fake"})

    async def _tags(self, request: Request) -> Response:
        return JSONResponse({"models": [{"name": m, "model": m, "size": 1} for m in self.models]})

    async def _ps(self, request: Request) -> Response:
        return JSONResponse(
            {
                "models": [
                    {"name": m, "model": m, "size": 1, "size_vram": 0, "expires_at": "2099-01-01T00:00:00Z"}
                    for m in self.loaded
                ]
            }
        )

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "invalid JSON"}, status_code=400)
        model = body.get("model")
        if model not in self.models:
            missing = f'model "{model}" not found, try pulling it first'
            return JSONResponse({"error": missing}, status_code=404)
        b = self.per_model.get(model, self.behaviour)
        seen = Seen(body)
        self.seen.append(seen)
        if b.status != 200:
            return JSONResponse({"error": b.error}, status_code=b.status)
        if not body.get("messages"):  # load request
            if model not in self.loaded:
                self.loaded.append(model)
            seen.finished = True
            return JSONResponse(self._line(model, "", done=True, reason="load"))
        if b.first_byte_delay_s:
            # Ollama sends its headers with the first chunk: the delay is before both.
            await asyncio.sleep(b.first_byte_delay_s)
        return StreamingResponse(self._stream(model, b, seen), media_type="application/x-ndjson")

    async def _openai_chat(self, request: Request) -> Response:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            error = {"message": "Incorrect API key provided", "type": "invalid_request_error"}
            return JSONResponse({"error": error}, status_code=401)
        body = json.loads(await request.body())
        b = self.per_model.get(body.get("model"), self.behaviour)
        seen = Seen(body)
        self.seen.append(seen)
        if b.status != 200:
            headers = {"Retry-After": "7"} if b.status == 429 else {}
            return JSONResponse(
                {"error": {"message": b.error, "type": "server_error"}}, status_code=b.status, headers=headers
            )
        return StreamingResponse(self._sse(body.get("model", ""), b, seen), media_type="text/event-stream")

    async def _sse(self, model: str, b: Behaviour, seen: Seen) -> AsyncIterator[bytes]:
        def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        yield event({"role": "assistant"})
        for piece in b.thinking:
            yield event({"reasoning_content": piece})
        for i, piece in enumerate(b.chunks):
            if b.error_after == i:
                yield f"data: {json.dumps({'error': {'message': b.error}})}\n\n".encode()
                return
            if b.cut_after == i:
                raise CutConnection("cut on purpose")
            yield event({"content": piece})
        yield event({}, "stop")
        usage = {"prompt_tokens": 3, "completion_tokens": len(b.chunks), "total_tokens": 3 + len(b.chunks)}
        yield f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"
        seen.finished = True

    def _line(
        self, model: str, content: str, *, thinking: str = "", done: bool = False, reason: str = "stop"
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            msg["thinking"] = thinking
        line: dict[str, Any] = {
            "model": model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": msg,
            "done": done,
        }
        if done:
            line.update(
                done_reason=reason,
                total_duration=1,
                load_duration=1,
                prompt_eval_count=3,
                prompt_eval_duration=1,
                eval_count=len(self.behaviour.chunks),
                eval_duration=1,
            )
        return line

    async def _stream(self, model: str, b: Behaviour, seen: Seen) -> AsyncIterator[bytes]:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for piece in b.thinking:
                yield (json.dumps(self._line(model, "", thinking=piece)) + "\n").encode()
            for i, piece in enumerate(b.chunks):
                if await self._misbehave(b, i):
                    yield (json.dumps({"error": b.error}) + "\n").encode()
                    return
                if i and b.chunk_delay_s:
                    await asyncio.sleep(b.chunk_delay_s)
                yield (json.dumps(self._line(model, piece)) + "\n").encode()
            if await self._misbehave(b, len(b.chunks)):
                yield (json.dumps({"error": b.error}) + "\n").encode()
                return
            if model not in self.loaded:
                self.loaded.append(model)
            yield (json.dumps(self._line(model, "", done=True)) + "\n").encode()
            seen.finished = True
        except asyncio.CancelledError:
            seen.client_left = True
            raise
        finally:
            self.in_flight -= 1

    async def _misbehave(self, b: Behaviour, sent: int) -> bool:
        """Returns True when an error line is due now."""
        if b.error_after == sent:
            return True
        if b.cut_after == sent:
            raise CutConnection("cut on purpose")
        if b.stall_after == sent:
            for _ in range(3000):  # bounded: at most ~30 s
                if self.release.is_set():
                    break
                await asyncio.sleep(0.01)
        return False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOllama:
        app = self.app()
        config = uvicorn.Config(app, host=self.host, port=self.port, log_level="critical", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"fake Ollama on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def chats(self) -> list[Seen]:
        """Chat requests with messages (not load requests)."""
        return [s for s in self.seen if s.body.get("messages")]


@contextmanager
def fake_ollama(**kwargs: Any) -> Iterator[FakeOllama]:
    fake = FakeOllama(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()
