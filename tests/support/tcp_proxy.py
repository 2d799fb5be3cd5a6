"""A fault-injecting TCP proxy for tests: put it between two real processes and delay, cut,
black-hole or reset the link, then restore it, without restarting either side.

    with tcp_proxy("127.0.0.13", ("127.0.0.11", 11434)) as proxy:
        env = {"OLLAMA_URL": proxy.url}
        proxy.cut()       # live connections dropped, new ones refused
        proxy.restore()
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from tests.support.processes import free_port

CHUNK = 64 * 1024


@dataclass
class ProxyStats:
    accepted: int = 0
    refused: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


class TcpProxy:
    def __init__(self, host: str, target: tuple[str, int], port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.target = target
        self.delay_s = 0.0
        self.mode = "open"  # open | cut | blackhole
        self.stats = ProxyStats()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- control, from the test's thread --------------------------------------------------
    def start(self) -> None:
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        self._call(self._close_all(reset=False, stop_listening=True))
        self._call(self._cancel_connections())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def delay(self, seconds: float) -> None:
        """Hold every chunk this long in each direction (a slow or distant link)."""
        self.delay_s = seconds

    def cut(self) -> None:
        """The link is gone: live connections closed, new ones refused."""
        self.mode = "cut"
        self._call(self._close_all(reset=False, stop_listening=True))

    def blackhole(self) -> None:
        """Packets vanish: new connections are accepted and never answered."""
        self.mode = "blackhole"

    def reset(self) -> None:
        """Reset every live connection (RST) mid-stream; new ones still work."""
        self._call(self._close_all(reset=True, stop_listening=False))

    def restore(self) -> None:
        self.mode, self.delay_s = "open", 0.0
        self._call(self._listen())

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=10)

    # -- inside the proxy's loop -------------------------------------------------------------
    async def _cancel_connections(self) -> None:
        """End the per-connection tasks so none is left pending when the loop closes."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)

    async def _close_all(self, *, reset: bool, stop_listening: bool) -> None:
        if stop_listening and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if reset and sock is not None:
                # SO_LINGER with a zero timeout turns close() into a TCP reset.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort() if reset else writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "cut":
            self.stats.refused += 1
            writer.close()
            return
        self.stats.accepted += 1
        self._writers.add(writer)
        if self.mode == "blackhole":
            await reader.read()  # hold it open, say nothing, until the client gives up
            self._writers.discard(writer)
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            self._writers.discard(writer)
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(
            self._pipe(reader, up_writer, "bytes_up"),
            self._pipe(up_reader, writer, "bytes_down"),
            return_exceptions=True,
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        try:
            while data := await reader.read(CHUNK):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                setattr(self.stats, counter, getattr(self.stats, counter) + len(data))
                writer.write(data)
                await writer.drain()
        finally:
            if writer.can_write_eof() and not writer.is_closing():
                try:
                    writer.write_eof()
                except OSError:
                    pass


@contextmanager
def tcp_proxy(host: str, target: tuple[str, int], port: int | None = None) -> Iterator[TcpProxy]:
    proxy = TcpProxy(host, target, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
