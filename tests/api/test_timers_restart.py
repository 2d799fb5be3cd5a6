"""A timer that came due while the backend was stopped goes off when it starts again, says
how late it is, and reaches the web stream the user opens afterwards; stopping the backend
ends an open stream cleanly."""

from __future__ import annotations

import os
import signal
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.backend import iter_events, login, running_backend, signup
from tests.support.processes import free_port

pytestmark = pytest.mark.slow
STORED = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a datetime in SQLite (UTC)


def test_a_timer_due_while_stopped_fires_after_restart(tmp_path: Path) -> None:
    env = {"OLLAMA_URL": f"http://127.0.0.1:{free_port()}"}  # no LLM needed: nothing answers
    data_dir = tmp_path / "data"
    with running_backend(data_dir, env=env) as backend:
        signup(backend.url, "alice")
        with closing(login(backend.url, "alice")) as alice:
            r = alice.post("/api/timers", json={"kind": "reminder", "text": "call mum", "when": "in 1 hour"})
            assert r.status_code == 201, r.text
            timer = r.json()["timer"]

    # While it is stopped, the hour passes: the reminder was due 2 minutes ago.
    with closing(sqlite3.connect(data_dir / "harvis.db")) as conn:
        (stored,) = conn.execute("SELECT due_at FROM timers WHERE id = ?", (timer["id"],)).fetchone()
        due = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=2)  # naive UTC, as stored
        conn.execute("UPDATE timers SET due_at = ? WHERE id = ?", (due.strftime(STORED), timer["id"]))
        conn.commit()
        assert datetime.fromisoformat(stored).replace(tzinfo=None) > due  # it really was in the future

    with running_backend(data_dir, env=env) as backend, closing(login(backend.url, "alice")) as alice:
        with alice.stream("GET", "/api/timers/events", timeout=60) as stream:
            events = iter_events(stream)
            assert next(events)[0] == "ready"
            name, fired = next(events)  # fired at start, kept until a stream was open
        assert name == "timer" and fired["id"] == timer["id"] and fired["kind"] == "reminder"
        assert 120 <= fired["late_s"] < 600, fired
        assert fired["say"].startswith("Reminder: call mum. It is late by 2 minutes"), fired
        (listed,) = alice.get("/api/timers").json()["timers"]
        assert listed["id"] == timer["id"] and listed["status"] == "fired" and listed["fired_at"]

        # Stopping ends an open stream properly (its last chunk sent), rather than cutting it
        # when the graceful shutdown gives up on it.
        with alice.stream("GET", "/api/timers/events", timeout=60) as stream:
            events = iter_events(stream)
            assert next(events)[0] == "ready"
            os.kill(backend.popen.pid, signal.SIGTERM)
            assert list(events) == []  # raises if the stream is cut mid-chunk
        assert backend.popen.wait(timeout=60) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
