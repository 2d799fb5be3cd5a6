"""The embedded LLM node, run as its own process when no OLLAMA_URL is given.

Its own process keeps llama.cpp's threads away from the event loop and the speech models
(see the notes on OpenMP contention), and lets it be stopped by PID.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

HOST = "127.0.0.1"


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

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    async def start(self) -> str:
        port = _free_port()
        self.url = f"http://{HOST}:{port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.popen = await asyncio.to_thread(self._spawn, port)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "started the embedded LLM node at %s (pid %d, log %s)", self.url, self.popen.pid, self.log_path
        )
        return self.url

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
