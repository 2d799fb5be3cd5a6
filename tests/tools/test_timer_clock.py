"""The timers' clock and hub: due timers fire once, cancelled ones never, late ones say so;
what fired with nobody listening reaches the next subscriber; the running clock wakes for a
timer set after it went to sleep."""

from __future__ import annotations

import asyncio

import pytest

from harvis.errors import RateLimited
from harvis.store.db import Database
from harvis.tools.base import ToolContext
from harvis.tools.timer_clock import MAX_SUBSCRIBERS, TimerClock, TimerHub
from harvis.tools.timers import TimerTools
from tests.tools.conftest import FakeNow, make_user


async def test_due_timers_fire_once_and_cancelled_ones_never(
    db: Database, tools: TimerTools, clock: TimerClock, hub: TimerHub, now: FakeNow
) -> None:
    alice = ToolContext(await make_user(db, "alice"))
    await tools.set_timer({"seconds": 10, "label": "tea"}, alice)
    await tools.set_timer({"seconds": 20}, alice)
    await tools.set_reminder({"text": "call mum", "when": "in 30 seconds"}, alice)
    await tools.cancel_timer({"label": "tea"}, alice)
    async with hub.subscribe(alice.user_id, "events") as queue:
        now.advance(9)
        assert await clock.fire_due() == []
        now.advance(11)  # the 20 s timer is due now, to the microsecond
        (fired,) = await clock.fire_due()
        assert fired.say == "Your timer of 20 seconds is done." and fired.payload()["late_s"] == 0.0
        assert queue.get_nowait() == fired
        assert await clock.fire_due() == []  # once only
        now.advance(10 + 120)  # the reminder, 2 minutes late
        (late,) = await clock.fire_due()
        assert late.say == "Reminder: call mum. It is late by 2 minutes.", late
        assert late.payload()["late_s"] == 120.0 and late.kind == "reminder" and late.text == "call mum"
        assert queue.get_nowait() == late and queue.empty()
    assert clock.fired == 2


async def test_what_fired_unheard_reaches_the_next_subscriber_of_each_channel(
    db: Database, tools: TimerTools, clock: TimerClock, hub: TimerHub, now: FakeNow
) -> None:
    alice = ToolContext(await make_user(db, "alice"))
    bob = ToolContext(await make_user(db, "bob"))
    await tools.set_timer({"seconds": 5}, alice)
    now.advance(5)
    async with hub.subscribe(alice.user_id, "voice") as voice:
        (fired,) = await clock.fire_due()
        assert voice.get_nowait() == fired
    async with hub.subscribe(bob.user_id, "events") as other:
        assert other.empty()  # another user's is never handed out
    async with hub.subscribe(alice.user_id, "events") as events:
        assert events.get_nowait() == fired  # nobody had the web stream open: kept for it
    async with hub.subscribe(alice.user_id, "events") as events:
        assert events.empty()  # handed out once


async def test_subscribers_are_bounded_per_user(hub: TimerHub) -> None:
    async with asyncio.TaskGroup() as tg:
        opened, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with hub.subscribe("u1", "events"):
                if hub.subscribers("u1", "events") == MAX_SUBSCRIBERS:
                    opened.set()
                await release.wait()

        for _ in range(MAX_SUBSCRIBERS):
            tg.create_task(hold())
        await opened.wait()
        with pytest.raises(RateLimited):
            async with hub.subscribe("u1", "events"):
                pass
        async with hub.subscribe("u2", "events"):
            pass
        release.set()
    assert hub.subscribers("u1", "events") == 0


async def test_the_running_clock_wakes_for_a_new_timer(db: Database, hub: TimerHub) -> None:
    clock = TimerClock(db, hub)  # the real time: a 1 s timer set after the clock went to sleep
    tools = TimerTools(db, clock)
    alice = ToolContext(await make_user(db, "alice"))
    await clock.start()
    try:
        async with hub.subscribe(alice.user_id, "events") as queue:
            await asyncio.sleep(0)  # let the clock read the (empty) table and sleep
            timer, _ = await tools.set_timer({"seconds": 1, "label": "egg"}, alice)
            async with asyncio.timeout(30):
                fired = await queue.get()
        assert fired.id == timer.id and fired.say == "The egg timer is done."
    finally:
        await clock.close()
    await clock.close()  # twice is harmless (the lifespan's stack may)


async def test_closing_the_hub_ends_every_subscription(hub: TimerHub) -> None:
    async with hub.subscribe("u1", "events") as events, hub.subscribe("u2", "voice") as voice:
        hub.close()  # the server stops taking requests
        assert events.get_nowait() is None and voice.get_nowait() is None
    async with hub.subscribe("u1", "events") as late:
        assert late.get_nowait() is None  # one that comes after ends at once too
