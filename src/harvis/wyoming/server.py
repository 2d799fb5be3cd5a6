"""The Wyoming TCP server: accepts connections (up to a limit) and serves each one.

It binds where its URI says — loopback by default, since Wyoming has no authentication — and
can announce itself over mDNS (zeroconf) for Home Assistant to discover, when asked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from urllib.parse import urlparse

from wyoming.error import Error
from wyoming.event import async_write_event

from harvis.errors import BadInput
from harvis.wyoming.announce import Announcer
from harvis.wyoming.connection import Connection, Deps

log = logging.getLogger(__name__)


def parse_uri(uri: str) -> tuple[str, int]:
    """tcp://HOST:PORT → (host, port); anything else is refused with one clear line."""
    parsed = urlparse(uri)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme != "tcp" or not parsed.hostname or port is None:
        raise BadInput(f"the Wyoming URI must be tcp://HOST:PORT, not {uri!r}", code="bad_uri")
    return parsed.hostname, port


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_announcement(host: str, zeroconf: str) -> None:
    """An mDNS announcement of a loopback address would only mislead: refuse it."""
    if zeroconf and is_loopback(host):
        raise BadInput(
            "zeroconf announces this server to the network, but it listens on loopback only: "
            "give it a network address (e.g. --uri tcp://0.0.0.0:10300)",
            code="zeroconf_on_loopback",
        )


class WyomingServer:
    def __init__(self, deps: Deps, uri: str) -> None:
        self.deps = deps
        self.host, self.port = parse_uri(uri)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._announcer: Announcer | None = None

    @property
    def uri(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    async def start(self) -> None:
        s = self.deps.settings
        check_announcement(self.host, s.zeroconf)
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=s.max_header_bytes, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])  # port 0: the one chosen
        if not is_loopback(self.host):
            log.warning(
                "wyoming: listening on %s, which has no authentication: trusted networks only", self.uri
            )
        if s.zeroconf:
            self._announcer = Announcer(s.zeroconf, self.host, self.port)
            await self._announcer.register()
        log.info("Wyoming server at %s (asr, tts, handle)", self.uri)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.deps.settings.max_connections:
            busy = Error(text="too many connections; try again shortly", code="busy")
            try:
                await async_write_event(busy.event(), writer)
            finally:
                writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await Connection(self.deps, reader, writer).run()
        finally:
            self._connections.discard(task)

    async def close(self) -> None:
        if self._announcer is not None:
            await self._announcer.close()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
