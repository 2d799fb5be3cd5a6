"""The FastAPI application: `create_app(settings)` is used by `harvis serve` and by tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.routing import Match, Mount
from starlette.types import Scope

from harvis.api import (
    admin_tools,
    audio,
    auth,
    chat,
    docs,
    health,
    housekeeping,
    keys,
    metrics,
    models,
    openai_compat,
    realtime_openai,
    schema_docs,
    sessions,
    speech_models,
    timers,
    voice,
    voices,
    wyoming_front,
)
from harvis.api.embedded_node import EmbeddedNode
from harvis.api.errors import install_error_handlers
from harvis.api.headers import SecurityHeadersMiddleware
from harvis.api.limits import BodyLimitMiddleware
from harvis.api.login_guard import LoginGuard
from harvis.api.secret import resolve_secret
from harvis.api.services import Services
from harvis.api.uploads import upload_limit_for
from harvis.config import Settings
from harvis.llm.router import Router
from harvis.pipeline.pipeline import Pipeline
from harvis.speech.service import SpeechService
from harvis.speech.voices import VoiceLibrary
from harvis.store.db import Database
from harvis.store.private import make_private
from harvis.tools.base import ToolProvider
from harvis.tools.builtin import BuiltinTools
from harvis.tools.mcp import McpProvider
from harvis.tools.mcp_config import load_mcp_config
from harvis.tools.timer_clock import TimerClock, TimerHub
from harvis.tools.timers import TimerTools
from harvis.tools.toolbox import Toolbox

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
ROUTERS = (
    docs,
    health,
    metrics,
    auth,
    keys,
    sessions,
    chat,
    models,
    openai_compat,
    realtime_openai,
    voices,
    audio,
    speech_models,
    timers,
    voice,
    admin_tools,
)


async def _start_router(svc: Services, stack: AsyncExitStack, start_node: bool) -> Router:
    if svc.router is not None:
        return svc.router  # given by the caller, who owns its lifetime
    settings = svc.settings
    if settings.ollama_url is None and settings.llm_config is None and start_node:
        node = EmbeddedNode(log_dir=settings.data_dir / "logs")
        url = await node.start()
        stack.push_async_callback(node.stop)
        svc.embedded_node = node
        log.info("OLLAMA_URL is not set: using the embedded LLM node at %s (pid %s)", url, node.pid)
        settings = settings.model_copy(update={"ollama_url": url})
    router = Router.from_settings(settings)
    await router.start()
    stack.push_async_callback(router.close)
    if svc.embedded_node is not None:  # its supervisor tells the router at once, both ways
        node_url = svc.embedded_node.url
        svc.embedded_node.on_down = lambda detail: router.node_down(node_url, detail)
        svc.embedded_node.on_up = router.refresh
    return router


async def _start_tools(svc: Services, stack: AsyncExitStack) -> Toolbox:
    """The tools answers may use; each provider that holds resources (timers' scheduler, MCP
    server processes) closes them on the stack."""
    t = svc.settings.tools
    # The clock runs even with tools off: timers already set still go off, the API still sets them.
    clock = TimerClock(svc.db, TimerHub())
    await clock.start()
    stack.push_async_callback(clock.close)
    svc.timers = TimerTools(svc.db, clock, max_active=t.max_timers)
    providers: list[ToolProvider] = [BuiltinTools(), svc.timers]
    # A bad file raises here (McpConfigError); `harvis serve` checks it first and exits 2.
    servers = load_mcp_config(t.mcp_config)
    if servers:
        svc.mcp = McpProvider(servers, svc.db, start_timeout_s=max(t.timeout_s, 30.0))
        stack.push_async_callback(svc.mcp.close)
        providers.append(svc.mcp)
    return Toolbox(providers if t.enabled else [], timeout_s=t.timeout_s)


async def _start_speech(svc: Services, router: Router, stack: AsyncExitStack) -> None:
    settings = svc.settings
    speech = SpeechService.from_settings(settings)
    await speech.start()
    stack.push_async_callback(speech.close)
    pipeline = Pipeline(llm=router, speech=speech, settings=settings, toolbox=svc.toolbox)
    stack.push_async_callback(pipeline.close)
    svc.speech, svc.pipeline = speech, pipeline
    svc.voices = VoiceLibrary(speech, settings.speech, data_dir=settings.data_dir)


async def _start_housekeeping(db: Database, stack: AsyncExitStack) -> None:
    await housekeeping.sweep(db, at_start=True)
    task = asyncio.create_task(housekeeping.sweep_forever(db))

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


def begin_shutdown(app: FastAPI) -> None:
    """The server has stopped taking requests: end the streams that never end by themselves
    (the timers' events), so that the graceful shutdown does not wait out its timeout."""
    svc: Services = app.state.services
    if svc.timers is not None:
        svc.timers.clock.hub.close()


class WebUI(Mount):
    """The static web UI at /: GET and HEAD outside the API's prefixes only, so that a wrong
    method on an API path gets that path's own 405 and `Allow`, not the file server's."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and (
            scope["method"] not in ("GET", "HEAD") or scope["path"].startswith(API_PREFIXES)
        ):
            return Match.NONE, {}
        return super().matches(scope)


API_PREFIXES = ("/api/", "/v1/", "/health/")


def create_app(settings: Settings, *, router: Router | None = None, start_node: bool = True) -> FastAPI:
    svc = Services(
        settings=settings,
        secret=resolve_secret(settings),
        db=Database.from_settings(settings),
        login_guard=LoginGuard(settings.auth),
        router=router,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            make_private(settings.data_dir)
            await svc.db.open()
            make_private(settings.data_dir)  # the database file, now that it exists
            stack.push_async_callback(svc.db.close)
            await _start_housekeeping(svc.db, stack)
            svc.router = await _start_router(svc, stack, start_node)
            svc.toolbox = await _start_tools(svc, stack)
            await _start_speech(svc, svc.router, stack)
            if settings.wyoming.enabled:
                await wyoming_front.start(svc, stack)
            log.info("Harvis is ready")
            yield

    app = FastAPI(
        title="Harvis",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # harvis.api.docs serves it, offline
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
        description="Self-hosted voice assistant: chat, voice and OpenAI-compatible APIs.",
    )
    app.state.services = svc

    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, upload_limit_for=upload_limit_for(settings))
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.auth.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.auth.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(metrics.MetricsMiddleware)
    for module in ROUTERS:
        app.include_router(module.router)
    docs.mount_assets(app)
    schema_docs.install(app)
    if (WEB_DIR / "index.html").exists():
        # Last, so every API route above wins over a file of the same name.
        app.router.routes.append(WebUI("/", app=StaticFiles(directory=WEB_DIR, html=True), name="web"))
    return app
