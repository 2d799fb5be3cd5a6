"""PostgreSQL restarted under traffic: requests fail cleanly (JSON 503, no hang) while it is
down, succeed after it is back, and no acknowledged row is lost. The database is a PRIVATE
cluster this test starts itself (initdb + pg_ctl on a free port): never the shared server."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.processes import free_port, wait_until
from tests.support.reliability import private_postgres

pytestmark = pytest.mark.slow
MAX_REQUESTS = 2000  # the traffic loop is bounded in count as well as in time
MAX_SECONDS = 240


@dataclass
class Traffic:
    url: str
    token: str
    results: list[tuple[str, int, dict[str, Any] | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=30) as client:
            for i in range(MAX_REQUESTS):
                if self.stop.is_set() or time.monotonic() > deadline:
                    return
                title = f"row-{i}"
                try:
                    r = client.post("/api/sessions", json={"title": title})
                    body = (
                        r.json() if r.headers.get("content-type", "").startswith("application/json") else None
                    )
                    self.results.append((title, r.status_code, body))
                except httpx.TimeoutException:
                    self.results.append((title, -1, None))  # a hang: the assertions below fail on it
                except httpx.TransportError as exc:
                    # A dropped connection instead of an answer: recorded (and failed on below)
                    # rather than ending the traffic loop.
                    self.results.append((title, -2, {"transport_error": repr(exc)}))
                time.sleep(0.02)  # pacing only: nothing waits on this

    def count(self, ok: bool, since: int = 0) -> int:
        return sum(1 for _, status, _ in self.results[since:] if (status == 201) == ok)


def stored_titles(dsn: str) -> set[str]:
    async def fetch() -> set[str]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            return {row["title"] for row in await conn.fetch("SELECT title FROM chat_sessions")}
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_postgres_restart_under_traffic(tmp_path: Path) -> None:
    with private_postgres() as pg:
        backend = start_backend(
            tmp_path / "data", env={"DATABASE_URL": pg.url, "OLLAMA_URL": f"http://127.0.0.1:{free_port()}"}
        )
        try:
            signup(backend.url, "writer")
            client = login(backend.url, "writer")
            traffic = Traffic(backend.url, token_of(client))
            client.close()
            worker = threading.Thread(target=traffic.run, daemon=True)
            worker.start()
            try:
                wait_until(lambda: traffic.count(ok=True) >= 5, timeout=60, what="writes succeed before")
                pg.stop("fast")
                down_from = len(traffic.results)
                wait_until(
                    lambda: traffic.count(ok=False, since=down_from) >= 5,
                    timeout=90,
                    what="writes fail while the database is down",
                )
                ready = httpx.get(f"{backend.url}/health/ready", timeout=30)
                assert ready.status_code == 503 and ready.json()["checks"]["database"]["ok"] is False
                assert ready.json()["checks"]["database"]["detail"]
                pg.start()
                up_from = len(traffic.results)
                wait_until(
                    lambda: traffic.count(ok=True, since=up_from) >= 5,
                    timeout=90,
                    what="writes succeed again after the restart",
                )
            finally:
                traffic.stop.set()
                worker.join(timeout=60)
            assert not worker.is_alive()

            acknowledged = {t for t, s, _ in traffic.results if s == 201}
            stored = stored_titles(pg.url.replace("+asyncpg", ""))
            assert acknowledged <= stored, f"acknowledged rows lost: {sorted(acknowledged - stored)[:10]}"
            assert stored <= {t for t, _, _ in traffic.results}
            assert httpx.get(f"{backend.url}/health/ready", timeout=30).json()["checks"]["database"]["ok"]
            failures = [(t, s, b) for t, s, b in traffic.results if s != 201]
            assert failures, "no request saw the outage"
            for title, status, body in failures:
                assert status == 503, (
                    f"{title}: HTTP {status} {body} (want a clean 503 while the database is down)"
                )
                assert body is not None and body["error"]["code"] and body["error"]["message"], body
            assert backend.popen.poll() is None, "the backend died with its database"

        finally:
            backend.stop()
