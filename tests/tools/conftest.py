"""The timer tools over a real SQLite file, with a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harvis.store import users
from harvis.store.db import Database
from harvis.tools.timer_clock import TimerClock, TimerHub
from harvis.tools.timers import TimerTools

START = datetime(2026, 12, 2, 13, 3, 10, tzinfo=UTC)


class FakeNow:
    """The time the tools and the clock read; a test moves it (no sleeping)."""

    def __init__(self) -> None:
        self.value = START

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


async def make_user(db: Database, name: str) -> str:
    async with db.session() as s:
        user = await users.create_user(s, username=name, password_hash="x", is_admin=False)
        await s.commit()
        return user.id


@pytest.fixture
def now() -> FakeNow:
    return FakeNow()


@pytest.fixture
def hub() -> TimerHub:
    return TimerHub()


@pytest.fixture
def clock(db: Database, hub: TimerHub, now: FakeNow) -> TimerClock:
    return TimerClock(db, hub, now=now)  # not started: tests call fire_due() themselves


@pytest.fixture
def tools(db: Database, clock: TimerClock, now: FakeNow) -> TimerTools:
    return TimerTools(db, clock, max_active=3, now=now)
