"""The embedded LLM node, run as its own process when no OLLAMA_URL is given.

Its own process keeps llama.cpp's threads away from the event loop and the speech models
(see the notes on OpenMP contention), and lets it be stopped by PID. It is supervised: when it
dies it is reaped at once (no zombie), reported (`on_down`), and started again on the same port
with a growing backoff (`on_up` once it answers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
POLL_S = 0.5  # how soon a dead node is noticed (and reaped)
BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # between restarts that keep failing
STABLE_S = 60.0  # up this long: the next death starts the backoff over


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # Linux: if the backend is killed outright, the node gets SIGTERM instead of lingering.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class EmbeddedNode:
    def __init__(self, *, log_dir: Path, startup_timeout_s: float = 120.0) -> None:
        self.log_path = log_dir / "llm-node.log"
        self.startup_timeout_s = startup_timeout_s
        self.popen: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.state = "stopped"  # starting | running | restarting | stopped
        self.restarts = 0
        self.last_exit: int | None = None  # the return code of the last death
        self.on_down: Callable[[str], None] = lambda detail: None
        self.on_up: Callable[[], Awaitable[None]] | None = None
        self._port = 0
        self._supervisor: asyncio.Task[None] | None = None

    def status(self) -> dict[str, object]:
        """What /health/ready shows: the operator's view (never sent in an error to a client)."""
        return {
            "state": self.state,
            "pid": self.pid if self.state == "running" else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    async def start(self) -> str:
        self._port = _free_port()
        self.url = f"http://{HOST}:{self._port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.state = "starting"
        try:
            await self._launch()
        except BaseException:
            await self.stop()
            raise
        self._supervisor = asyncio.create_task(self._supervise())
        return self.url

    async def _launch(self) -> None:
        self.popen = await asyncio.to_thread(self._spawn, self._port)
        await self._wait_ready()
        self.state = "running"
        log.info(
            "started the embedded LLM node at %s (pid %d, log %s)", self.url, self.popen.pid, self.log_path
        )

    async def _supervise(self) -> None:
        failures, up_since = 0, time.monotonic()
        while True:
            await asyncio.sleep(POLL_S)
            assert self.popen is not None
            code = self.popen.poll()  # reaps a dead child
            if code is None:
                continue
            if self.state == "running" and time.monotonic() - up_since > STABLE_S:
                failures = 0  # it had been fine for a while: start the backoff over
            self.state, self.last_exit = "restarting", code
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            log.warning(
                "the embedded LLM node (pid %d) exited with %d; restarting in %gs",
                self.popen.pid,
                code,
                delay,
            )
            self.on_down(f"the embedded LLM node exited with {code}; restarting")
            await asyncio.sleep(delay)
            failures += 1
            try:
                await self._launch()
            except (OSError, RuntimeError, TimeoutError) as exc:
                log.warning("restarting the embedded LLM node failed: %s", exc)
                await self._kill()  # a half-started one must not hold the port
                continue
            self.restarts += 1
            up_since = time.monotonic()
            if self.on_up is not None:
                try:
                    await self.on_up()
                except Exception:  # the router's next probe will see it anyway
                    log.exception("telling the router the embedded LLM node is back failed")

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        with self.log_path.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "harvis.cli", "llm-node", "--host", HOST, "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )

    async def _wait_ready(self) -> None:
        assert self.popen is not None
        deadline = time.monotonic() + self.startup_timeout_s
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.popen.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the embedded LLM node exited with {self.popen.returncode}:\n{tail}")
                try:
                    if (await client.get(self.url + "/api/version")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(
            f"the embedded LLM node did not answer at {self.url} within {self.startup_timeout_s}s"
        )

    async def stop(self, timeout_s: float = 10.0) -> None:
        self.state = "stopped"
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        await self._kill(timeout_s)

    async def _kill(self, timeout_s: float = 10.0) -> None:
        popen = self.popen
        if popen is None or popen.poll() is not None:
            return
        os.kill(popen.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(popen.wait, timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(popen.pid, signal.SIGKILL)
            await asyncio.to_thread(popen.wait, 10)
        log.info("stopped the embedded LLM node (pid %d)", popen.pid)
