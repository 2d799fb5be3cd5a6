"""``create_app``: the node's FastAPI app, built from explicit settings (tests and the CLI share it)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harvis.config import NodeSettings
from harvis.llm.node.durations import keep_alive_seconds
from harvis.llm.node.gate import Gate
from harvis.llm.node.jobs import NodeState, preload
from harvis.llm.node.metrics import NodeMetrics
from harvis.llm.node.openai_wire import openai_error
from harvis.llm.node.registry import ModelRegistry
from harvis.llm.node.residency import Residency
from harvis.llm.node.routes_embed import router as embed_router
from harvis.llm.node.routes_generate import router as generate_router
from harvis.llm.node.routes_info import router as info_router
from harvis.llm.node.routes_openai import router as openai_router
from harvis.llm.types import LLMError


def default_threads(requested: int) -> int:
    """0 = half the cores this process may use, at least 1 (llama.cpp collapses when its
    threads compete with other work for every core)."""
    if requested > 0:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // 2)


# A label per unknown path would let any client grow /metrics without bound.
_KNOWN_PATHS = frozenset(
    {
        "/",
        "/api/version",
        "/api/tags",
        "/api/show",
        "/api/ps",
        "/api/chat",
        "/api/generate",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
        "/health/live",
        "/health/ready",
        "/metrics",
    }
)


class _CountRequests:
    """Counts answered requests by path and status for /metrics."""

    def __init__(self, app: ASGIApp, metrics: NodeMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = scope["path"] if scope["path"] in _KNOWN_PATHS else "other"
                self.metrics.requests.labels(path, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(node: NodeSettings, models_dir: Path) -> FastAPI:
    metrics = NodeMetrics()
    state = NodeState(
        registry=ModelRegistry(models_dir, node.extra_models),
        residency=Residency(default_threads(node.threads), node.num_ctx, metrics),
        gate=Gate(node.max_queue),
        metrics=metrics,
        default_keep_alive_s=keep_alive_seconds(node.keep_alive, None),
    )

    metrics.waiting.set_function(lambda: state.gate.waiting)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        expiry = asyncio.create_task(state.residency.expire_forever())
        names = list(node.preload)
        state.preloading.update(names)
        loading = asyncio.create_task(preload(state, names))
        try:
            yield
        finally:
            for task in (loading, expiry):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await state.residency.close()

    app = FastAPI(title="harvis llm-node", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.node = state
    app.state.threads = state.residency._threads

    def error(request: Request, message: str, status: int, headers: Mapping[str, str] | None) -> JSONResponse:
        # OpenAI's shape on /v1 (its clients read error.message), Ollama's elsewhere.
        body = openai_error(message, status) if request.url.path.startswith("/v1/") else {"error": message}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(LLMError)
    async def llm_error(request: Request, exc: LLMError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return error(request, exc.message, exc.status, headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "404 page not found" if exc.status_code == 404 else str(exc.detail)
        return error(request, message, exc.status_code, exc.headers)

    app.include_router(info_router)
    app.include_router(generate_router)
    app.include_router(openai_router)
    app.include_router(embed_router)
    app.add_middleware(_CountRequests, metrics=metrics)
    return app
