"""Everything long-lived the API uses, typed, in one place (`app.state.services`).

What needs no start-up (settings, secret, database handle, limiters) exists from
`create_app`; the rest is created and closed in the app's lifespan, and a request that comes
before it is ready gets 503.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from harvis.api.embedded_node import EmbeddedNode
from harvis.api.login_guard import LoginGuard
from harvis.config import Settings
from harvis.llm.router import Router
from harvis.pipeline.pipeline import Pipeline
from harvis.speech.service import SpeechService
from harvis.speech.voices import VoiceLibrary
from harvis.store.db import Database
from harvis.tools.mcp import McpProvider
from harvis.tools.timers import TimerTools
from harvis.tools.toolbox import Toolbox
from harvis.wyoming.server import WyomingServer


@dataclass
class Services:
    settings: Settings
    secret: str
    db: Database
    login_guard: LoginGuard
    signup_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Created in the lifespan:
    router: Router | None = None
    speech: SpeechService | None = None
    voices: VoiceLibrary | None = None
    pipeline: Pipeline | None = None
    embedded_node: EmbeddedNode | None = None
    wyoming: WyomingServer | None = None  # when the Wyoming front end runs beside the HTTP API
    toolbox: Toolbox | None = None  # the tools answers may use (settings.tools)
    mcp: McpProvider | None = None  # the MCP servers of settings.tools.mcp_config (in the toolbox)
    timers: TimerTools | None = None  # timers and reminders: tools, clock and announcements
