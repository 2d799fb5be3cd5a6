"""Queries: a user's timers and reminders, and the clock's view of every user's (what is due next)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import Timer, User, is_id

KINDS = ("timer", "reminder")


def _active() -> tuple[ColumnElement[bool], ...]:
    return (Timer.fired_at.is_(None), Timer.cancelled_at.is_(None))


async def create_timer(
    session: AsyncSession,
    *,
    user_id: str,
    kind: str,
    text: str,
    due_at: datetime,
    session_id: str | None = None,
    created_at: datetime | None = None,
    limit: int | None = None,
) -> Timer | None:
    """Adds the timer; with `limit`, only while the user has fewer than `limit` active ones,
    else None (nothing added). Atomic as create_voice is: the user's row is locked first
    (PostgreSQL), and the count is taken after the insert in the same transaction (SQLite)."""
    if kind not in KINDS:
        raise ValueError(f"kind is one of {KINDS}")
    if limit is not None:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    timer = Timer(user_id=user_id, kind=kind, text=text, due_at=due_at, session_id=session_id)
    if created_at is not None:
        timer.created_at = created_at
    session.add(timer)
    await session.flush()
    if limit is not None and await count_active(session, user_id=user_id) > limit:
        await session.rollback()
        return None
    return timer


async def count_active(session: AsyncSession, *, user_id: str) -> int:
    stmt = select(func.count()).select_from(Timer).where(Timer.user_id == user_id, *_active())
    return int(await session.scalar(stmt) or 0)


async def list_active(session: AsyncSession, *, user_id: str) -> list[Timer]:
    """The user's timers still to come, soonest first."""
    stmt = select(Timer).where(Timer.user_id == user_id, *_active()).order_by(Timer.due_at, Timer.id)
    return list(await session.scalars(stmt))


async def list_recent(
    session: AsyncSession, *, user_id: str, fired_since: datetime, limit: int = 100
) -> list[Timer]:
    """Active ones and those fired since `fired_since` (for the web UI's list), soonest first."""
    recent = (Timer.cancelled_at.is_(None)) & (Timer.fired_at.is_(None) | (Timer.fired_at >= fired_since))
    stmt = select(Timer).where(Timer.user_id == user_id, recent).order_by(Timer.due_at, Timer.id).limit(limit)
    return list(await session.scalars(stmt))


async def get_timer(session: AsyncSession, *, user_id: str, timer_id: str) -> Timer | None:
    """The user's timer by id; another user's is None, as an unknown one is."""
    if not is_id(timer_id):
        return None
    return await session.scalar(select(Timer).where(Timer.id == timer_id, Timer.user_id == user_id))


async def cancel_timer(session: AsyncSession, *, user_id: str, timer_id: str, at: datetime) -> bool:
    """Cancels the user's active timer; False when it is not theirs, unknown, fired or cancelled."""
    if not is_id(timer_id):
        return False
    stmt = (
        update(Timer)
        .where(Timer.id == timer_id, Timer.user_id == user_id, *_active())
        .values(cancelled_at=at)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def next_due(session: AsyncSession) -> datetime | None:
    """When the soonest active timer of any user is due."""
    stmt = select(Timer.due_at).where(*_active()).order_by(Timer.due_at).limit(1)
    due: datetime | None = await session.scalar(stmt)
    return due


async def due_timers(session: AsyncSession, *, now: datetime, limit: int = 50) -> list[Timer]:
    """Active timers of any user due by `now`, oldest first."""
    stmt = select(Timer).where(Timer.due_at <= now, *_active()).order_by(Timer.due_at, Timer.id).limit(limit)
    return list(await session.scalars(stmt))


async def mark_fired(session: AsyncSession, *, timer_id: str, at: datetime) -> bool:
    """Marks it fired unless it was cancelled (or fired) meanwhile: True for the one caller
    that gets to announce it."""
    stmt = (
        update(Timer)
        .where(Timer.id == timer_id, *_active())
        .values(fired_at=at)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 0))


async def purge_done(session: AsyncSession, *, before: datetime) -> int:
    """Forgets timers that went off or were cancelled before `before` (housekeeping)."""
    stmt = delete(Timer).where((Timer.fired_at < before) | (Timer.cancelled_at < before))
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
