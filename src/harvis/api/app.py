"""The FastAPI application: `create_app(settings)` is used by `harvis serve` and by tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from harvis.api import (
    audio,
    auth,
    chat,
    health,
    housekeeping,
    keys,
    metrics,
    models,
    openai_compat,
    sessions,
    speech_models,
    voice,
    voices,
)
from harvis.api.embedded_node import EmbeddedNode
from harvis.api.errors import install_error_handlers
from harvis.api.headers import SecurityHeadersMiddleware
from harvis.api.limits import BodyLimitMiddleware
from harvis.api.ratelimit import SlidingWindowLimiter
from harvis.api.secret import resolve_secret
from harvis.config import Settings
from harvis.speech.service import SpeechService
from harvis.store.db import Database

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ROUTERS = (health, metrics, auth, keys, sessions, chat, models, openai_compat, voices, audio, speech_models,
           voice)


async def _start_router(app: FastAPI, settings: Settings, stack: AsyncExitStack, start_node: bool) -> None:
    if app.state.router is not None:
        return  # given by the caller, who owns its lifetime
    router_settings = settings
    if settings.ollama_url is None and settings.llm_config is None and start_node:
        node = EmbeddedNode(log_dir=settings.data_dir / "logs")
        url = await node.start()
        stack.push_async_callback(node.stop)
        app.state.embedded_node = node
        log.info("OLLAMA_URL is not set: using the embedded LLM node at %s (pid %s)", url, node.pid)
        router_settings = settings.model_copy(update={"ollama_url": url})
    from harvis.llm.router import Router

    router = Router.from_settings(router_settings)
    await router.start()
    stack.push_async_callback(router.close)
    app.state.router = router


async def _start_speech(app: FastAPI, settings: Settings, stack: AsyncExitStack) -> None:
    speech = SpeechService.from_settings(settings)
    await speech.start()
    stack.push_async_callback(speech.close)
    app.state.speech = speech


async def _start_housekeeping(db: Database, stack: AsyncExitStack) -> None:
    await housekeeping.sweep(db, at_start=True)
    task = asyncio.create_task(housekeeping.sweep_forever(db))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


def create_app(settings: Settings, *, router: Any = None, start_node: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            await app.state.db.open()
            stack.push_async_callback(app.state.db.close)
            await _start_housekeeping(app.state.db, stack)
            await _start_router(app, settings, stack, start_node)
            await _start_speech(app, settings, stack)
            log.info("Harvis is ready")
            yield

    app = FastAPI(
        title="Harvis",
        version="0.1.0",
        lifespan=lifespan,
        description="Self-hosted voice assistant: chat, voice and OpenAI-compatible APIs.",
    )
    app.state.settings = settings
    app.state.secret = resolve_secret(settings)
    app.state.db = Database.from_settings(settings)
    app.state.router = router
    app.state.speech = None
    app.state.embedded_node = None
    app.state.signup_lock = asyncio.Lock()
    app.state.login_limiter = SlidingWindowLimiter(settings.auth.login_attempts_per_minute, 60.0)
    app.state.metrics = metrics

    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware, upload_limit_bytes=(settings.speech.max_upload_mb + 1) * 1024 * 1024
    )
    app.add_middleware(SecurityHeadersMiddleware)
    if origins := [o.strip() for o in settings.auth.cors_origins.split(",") if o.strip()]:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(metrics.MetricsMiddleware)
    for module in ROUTERS:
        app.include_router(module.router)
    if (WEB_DIR / "index.html").exists():
        # Last, so every API route above wins over a file of the same name.
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
