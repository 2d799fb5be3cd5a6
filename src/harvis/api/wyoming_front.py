"""The Wyoming front end's place in the backend: started in the app's lifespan over the same
services as the HTTP API, when `HARVIS_WYOMING__ENABLED` (or `harvis serve --wyoming`, or
`harvis wyoming`) says so."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from harvis.api.services import Services
from harvis.config import Settings
from harvis.wyoming.connection import Deps
from harvis.wyoming.handle import Agent, Conversations
from harvis.wyoming.server import WyomingServer

log = logging.getLogger(__name__)


async def start(svc: Services, stack: AsyncExitStack) -> WyomingServer:
    assert svc.speech is not None and svc.voices is not None and svc.pipeline is not None
    assert svc.router is not None
    s = svc.settings.wyoming
    router = svc.router
    agent = Agent(
        pipeline=svc.pipeline,
        db=svc.db,
        model=lambda: s.model or router.default_model,
        username=s.user,
        max_chars=s.max_text_chars,
        conversations=Conversations(s.conversations),
    )
    deps = Deps(
        speech=svc.speech,
        voices=svc.voices,
        agent=agent,
        db=svc.db,
        settings=s,
        speech_settings=svc.settings.speech,
        pipeline_settings=svc.settings.pipeline,
    )
    server = WyomingServer(deps, s.uri)
    await server.start()
    stack.push_async_callback(server.close)
    svc.wyoming = server
    return server


def with_wyoming(settings: Settings, **changes: object) -> Settings:
    """The settings with Wyoming switched on (and any of its fields changed)."""
    given = {k: v for k, v in changes.items() if v is not None}
    wyoming = settings.wyoming.model_copy(update={"enabled": True, **given})
    return settings.model_copy(update={"wyoming": wyoming})
