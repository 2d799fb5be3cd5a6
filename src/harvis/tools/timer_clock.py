"""The timers' clock: one task that sleeps until the next timer is due (woken early when one is
set), marks it fired and publishes it to that user's subscribers (TimerHub, in process).

Timers that came due while the backend was down fire at start, saying how late they are.
The hub keeps what fired while a user had no subscriber on a channel (the web UI's stream,
voice sockets) for a while, and hands it to the next one: at start nobody is connected yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harvis.errors import RateLimited
from harvis.store import timers as store
from harvis.store.db import Database
from harvis.store.models import Timer, utcnow
from harvis.store.outage import database_down
from harvis.tools.timer_text import announcement

log = logging.getLogger(__name__)
CHANNELS = ("events", "voice")  # the web UI's SSE stream; realtime voice sockets
MAX_SUBSCRIBERS = 8  # per user and channel (open tabs, sockets)
QUEUE_SIZE = 32  # events a slow subscriber may lag behind; the oldest go first
KEEP_UNDELIVERED_S = 600.0  # fired with nobody listening: handed to a subscriber this long after
MAX_SLEEP_S = 60.0  # re-read the table at least this often (a clock change, a missed wake)
RETRY_S = 5.0  # after a database error


@dataclass(frozen=True)
class TimerEvent:
    id: str
    user_id: str
    kind: str
    text: str
    due_at: datetime
    fired_at: datetime
    session_id: str | None
    say: str  # the announcement, as spoken

    @classmethod
    def of(cls, timer: Timer, fired_at: datetime) -> TimerEvent:
        say = announcement(timer.kind, timer.text, timer.due_at, timer.created_at, fired_at)
        return cls(
            timer.id, timer.user_id, timer.kind, timer.text, timer.due_at, fired_at, timer.session_id, say
        )

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "text": self.text,
            "due_at": self.due_at.isoformat(),
            "fired_at": self.fired_at.isoformat(),
            "late_s": round(max(0.0, (self.fired_at - self.due_at).total_seconds()), 1),
            "say": self.say,
            "session_id": self.session_id,
        }


Inbox = asyncio.Queue[TimerEvent | None]  # None: the server is stopping, the subscription ends


class TimerHub:
    """In-process pub/sub of fired timers, per user and channel."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._subs: dict[tuple[str, str], set[Inbox]] = {}
        self._undelivered: dict[tuple[str, str], deque[tuple[float, TimerEvent]]] = {}
        self._clock = clock
        self.closed = False

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: str, channel: str) -> AsyncIterator[Inbox]:
        """A queue of the user's fired timers, starting with those nobody on `channel` got yet."""
        key = (user_id, channel)
        subs = self._subs.setdefault(key, set())
        if len(subs) >= MAX_SUBSCRIBERS:
            raise RateLimited(
                f"at most {MAX_SUBSCRIBERS} open timer streams per user", code="too_many_streams"
            )
        queue: Inbox = asyncio.Queue(QUEUE_SIZE + 1)  # room for the closing None
        if self.closed:
            queue.put_nowait(None)
        subs.add(queue)
        now = self._clock()
        for at, event in self._undelivered.pop(key, deque()):
            if now - at <= KEEP_UNDELIVERED_S:
                self._put(queue, event)
        try:
            yield queue
        finally:
            subs.discard(queue)
            if not subs:
                del self._subs[key]

    def subscribers(self, user_id: str, channel: str) -> int:
        return len(self._subs.get((user_id, channel), ()))

    def close(self) -> None:
        """The server stops: every subscription ends (streams that never end by themselves
        would hold the graceful shutdown for its whole timeout)."""
        self.closed = True
        for subs in self._subs.values():
            for queue in subs:
                queue.put_nowait(None)

    def publish(self, event: TimerEvent) -> None:
        for channel in CHANNELS:
            key = (event.user_id, channel)
            subs = self._subs.get(key)
            if subs:
                for queue in subs:
                    self._put(queue, event)
            else:
                kept = self._undelivered.setdefault(key, deque(maxlen=QUEUE_SIZE))
                kept.append((self._clock(), event))

    @staticmethod
    def _put(queue: Inbox, event: TimerEvent) -> None:
        if queue.qsize() >= QUEUE_SIZE:
            queue.get_nowait()  # a subscriber that does not read loses the oldest, never blocks the clock
        queue.put_nowait(event)


class TimerClock:
    def __init__(self, db: Database, hub: TimerHub, *, now: Callable[[], datetime] = utcnow) -> None:
        self.db, self.hub, self._now = db, hub, now
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.fired = 0  # timers this clock announced (tests, metrics)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="timer-clock")

    def wake(self) -> None:
        """A timer was set or cancelled: look at the table again now."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before reading: a timer set from here on wakes the wait below
            try:
                await self.fire_due()
                async with self.db.session() as session:
                    due = await store.next_due(session)
                wait = MAX_SLEEP_S if due is None else (due - self._now()).total_seconds()
            except Exception as exc:  # a database blip must not end the clock
                if database_down(exc):
                    log.warning(
                        "timers: database unreachable (%s); trying again in %ss", type(exc).__name__, RETRY_S
                    )
                else:
                    log.exception("timers: the clock could not read the timers; trying again in %ss", RETRY_S)
                wait = RETRY_S
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(wait, MAX_SLEEP_S)):
                        await self._wake.wait()

    async def fire_due(self) -> list[TimerEvent]:
        """Fires every timer due by now (in batches), each once even with several clocks."""
        fired: list[TimerEvent] = []
        while True:
            now = self._now()
            async with self.db.session() as session:
                due = await store.due_timers(session, now=now)
                batch = []
                for timer in due:
                    if await store.mark_fired(session, timer_id=timer.id, at=now):
                        batch.append(TimerEvent.of(timer, now))
                await session.commit()
            for event in batch:  # published once saved: a crash before commit fires it again
                self.hub.publish(event)
                log.info(
                    "timers: %s %s fired (late by %.1fs)", event.kind, event.id, event.payload()["late_s"]
                )
            self.fired += len(batch)
            fired += batch
            if len(due) < 50:
                return fired
