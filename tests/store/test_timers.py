"""Timer queries on SQLite and PostgreSQL: per-user reads, the clock's next-due and exclusive
firing, cancelling only one's own active timer, and the per-user bound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from harvis.store import timers, users
from harvis.store.db import Database

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


async def _user(db: Database, name: str) -> str:
    async with db.session() as s:
        user = await users.create_user(
            s, username=f"{name}-{uuid.uuid4().hex[:8]}", password_hash="x", is_admin=False
        )
        await s.commit()
        return user.id


async def _timer(
    db: Database, user_id: str, due: datetime, text: str = "", limit: int | None = None
) -> str | None:
    async with db.session() as s:
        timer = await timers.create_timer(
            s, user_id=user_id, kind="timer", text=text, due_at=due, limit=limit
        )
        if timer is None:
            return None
        await s.commit()
        return timer.id


async def test_queries_per_user_and_for_the_clock(db: Database) -> None:
    # The PostgreSQL database is shared by the session's tests: none of them leaves a timer.
    alice, bob = await _user(db, "alice"), await _user(db, "bob")
    soon = await _timer(db, alice, T0 + timedelta(seconds=5), "tea")
    later = await _timer(db, bob, T0 + timedelta(minutes=5))
    assert soon and later
    async with db.session() as s:
        assert await timers.next_due(s) == T0 + timedelta(seconds=5)  # an aware UTC datetime
        assert [t.id for t in await timers.list_active(s, user_id=bob)] == [later]
        assert await timers.get_timer(s, user_id=bob, timer_id=soon) is None  # not bob's
        assert not await timers.cancel_timer(s, user_id=bob, timer_id=soon, at=T0)
        assert not await timers.cancel_timer(s, user_id=bob, timer_id="not-an-id", at=T0)
        assert [t.id for t in await timers.due_timers(s, now=T0 + timedelta(seconds=5))] == [soon]
        assert await timers.mark_fired(s, timer_id=soon, at=T0 + timedelta(seconds=5))
        assert not await timers.mark_fired(s, timer_id=soon, at=T0 + timedelta(seconds=6))  # once
        await s.commit()
    async with db.session() as s:
        assert await timers.next_due(s) == T0 + timedelta(minutes=5)
        assert await timers.list_active(s, user_id=alice) == []
        recent = await timers.list_recent(s, user_id=alice, fired_since=T0)
        assert [(t.id, t.fired_at) for t in recent] == [(soon, T0 + timedelta(seconds=5))]
        assert await timers.list_recent(s, user_id=alice, fired_since=T0 + timedelta(hours=1)) == []
        assert await timers.cancel_timer(s, user_id=bob, timer_id=later, at=T0)
        assert not await timers.mark_fired(s, timer_id=later, at=T0 + timedelta(minutes=5))  # cancelled
        await s.commit()
    async with db.session() as s:
        assert await timers.next_due(s) is None
        await timers.purge_done(s, before=T0 + timedelta(seconds=1))  # the cancelled one (at T0) only
        assert await timers.get_timer(s, user_id=bob, timer_id=later) is None
        assert await timers.get_timer(s, user_id=alice, timer_id=soon) is not None
        await timers.purge_done(s, before=T0 + timedelta(hours=1))
        assert await timers.get_timer(s, user_id=alice, timer_id=soon) is None
        await s.commit()


async def test_active_timers_are_bounded(db: Database) -> None:
    alice = await _user(db, "alice")
    ids = [await _timer(db, alice, T0 + timedelta(minutes=n), limit=2) for n in range(3)]
    assert ids[0] and ids[1] and ids[2] is None
    async with db.session() as s:
        assert await timers.count_active(s, user_id=alice) == 2
        for timer_id in ids[:2]:
            assert timer_id and await timers.cancel_timer(s, user_id=alice, timer_id=timer_id, at=T0)
        await s.commit()
