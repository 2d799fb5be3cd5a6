"""Start real processes for tests, wait until they answer, and stop them by PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
HARVIS = [sys.executable, "-m", "harvis.cli"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.popen, timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


def stop_pid(popen: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if popen.poll() is not None:
        return
    os.kill(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait(timeout=10)


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.1) -> Any:
    """Poll `check` until it returns something truthy (which is returned); fail naming `what`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not true within {timeout}s (last: {last!r})")


def wait_http(
    url: str, popen: subprocess.Popen[bytes] | None, log: Path | None, timeout: float = 120.0
) -> None:
    """Poll `url` until it answers (any status < 500), the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process exited with {popen.returncode} before {url} answered:\n{text}")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code < 500:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s (last: {last})")


def spawn(
    args: list[str],
    *,
    base_url: str,
    log_path: Path,
    ready_path: str = "/",
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> Proc:
    full_env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        popen = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=REPO)
    try:
        wait_http(base_url + ready_path, popen, log_path, timeout)
    except BaseException:
        stop_pid(popen)
        raise
    return Proc(popen=popen, url=base_url, log_path=log_path)


@contextmanager
def running(
    args: list[str],
    *,
    base_url: str,
    log_path: Path,
    ready_path: str = "/",
    env: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> Iterator[Proc]:
    proc = spawn(args, base_url=base_url, log_path=log_path, ready_path=ready_path, env=env, timeout=timeout)
    try:
        yield proc
    finally:
        proc.stop()
