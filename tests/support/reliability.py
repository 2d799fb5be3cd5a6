"""Helpers for the reliability and security tests: a private PostgreSQL cluster, a router
config over several nodes, bounded SSE reads, a listener whose connects never complete, and
a file-system snapshot to prove nothing was written where it should not be."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.backend import iter_events
from tests.support.processes import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def chat_events(
    client: httpx.Client,
    payload: dict[str, Any],
    *,
    timeout: float = 120,
    on_event: Callable[[str, dict[str, Any], list[tuple[str, dict[str, Any]]]], None] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """POST /api/chat and collect its events. `timeout` bounds each read: a hang fails the test."""
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("POST", "/api/chat", json=payload, timeout=httpx.Timeout(timeout)) as r:
        assert r.status_code == 200, r.read()
        for name, data in iter_events(r):
            events.append((name, data))
            if on_event is not None:
                on_event(name, data, events)
    return events


def streamed_text(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(d["text"] for n, d in events if n == "token")


def router_config(
    path: Path,
    deployments: list[tuple[str, str]],
    *,
    extra: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> Path:
    """A LiteLLM-shaped model_list: (model_name, api_base) pairs, all serving smollm2:135m,
    then the `extra` entries as given."""
    doc: dict[str, Any] = {
        "model_list": [
            {"model_name": name, "litellm_params": {"model": "ollama/smollm2:135m", "api_base": base}}
            for name, base in deployments
        ]
        + list(extra or []),
    }
    if settings:
        doc["router_settings"] = settings
    path.write_text(yaml.safe_dump(doc))
    return path


# ---- a listener that never completes a connect --------------------------------------------


@contextmanager
def unanswered_connects(host: str = "127.0.0.1") -> Iterator[str]:
    """An address whose TCP connects hang: the accept queue (backlog 0) is filled by our own
    connections and never drained, so Linux drops further SYNs and the client keeps waiting."""
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(4):  # a backlog of 0 still queues one or two; fill it for sure
            s = socket.socket()
            s.setblocking(False)
            with suppress(BlockingIOError):
                s.connect((host, port))
            fillers.append(s)
        probe = socket.socket()
        probe.settimeout(1.0)
        try:
            probe.connect((host, port))
            raise AssertionError("the filled listener still completed a connect: cannot test connect limits")
        except TimeoutError:
            pass
        finally:
            probe.close()
        yield f"http://{host}:{port}"
    finally:
        for s in fillers:
            s.close()
        listener.close()


# ---- a private PostgreSQL cluster ---------------------------------------------------------


@dataclass
class PrivatePostgres:
    data: Path
    port: int
    log: Path
    user: str

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(PG_BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        r = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.data}",
            "start",
        )
        assert r.returncode == 0, f"pg_ctl start failed: {r.stdout}{r.stderr}\n{self.log_text()}"

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        with suppress(FileNotFoundError, ValueError, IndexError):
            return int(pidfile.read_text().splitlines()[0])
        return None

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is None:
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """initdb + pg_ctl on a free 127.0.0.1 port and a temp dir, never the shared server."""
    initdb = PG_BIN / "initdb"
    assert initdb.exists(), (
        f"{initdb} is missing: install Debian's postgresql-15 (scripts/ensure-postgres.sh)"
    )
    root = Path(tempfile.mkdtemp(prefix="harvis-pg-"))
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        shutil.chown(root, user)
    pg = PrivatePostgres(data=root / "data", port=free_port(), log=root / "postgres.log", user=user)
    r = pg._run("initdb", "-D", str(pg.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    assert r.returncode == 0, f"initdb failed: {r.stdout}{r.stderr}"
    pg.start()
    try:
        yield pg
    finally:
        pid = pg.pid()
        pg.stop("immediate")
        if pid is not None:  # pg_ctl did not manage: stop the postmaster by its PID
            with suppress(ProcessLookupError):
                os.kill(pid, 0)
                os.kill(pid, 9)
        shutil.rmtree(root, ignore_errors=True)


# ---- file-system snapshots ----------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root`: relative path -> (size, mtime_ns)."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            with suppress(FileNotFoundError):
                st = path.lstat()
                found[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return found


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> list[str]:
    return sorted(p for p, v in after.items() if before.get(p) != v)
