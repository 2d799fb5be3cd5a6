"""The timer tools called as the model calls them (Toolbox.run with a ToolCall), on real SQLite:
times in the user's zone, bounds, bad input told as text, and one user's timers kept from another."""

from __future__ import annotations

from datetime import UTC, datetime

from harvis.llm.types import ToolCall
from harvis.store import timers as store
from harvis.store.db import Database
from harvis.tools.base import ToolContext
from harvis.tools.timers import TimerTools
from harvis.tools.toolbox import Toolbox, ToolOutcome
from tests.tools.conftest import FakeNow, make_user

PARIS = "Europe/Paris"  # UTC+1 in December: 13:03:10 UTC is 14:03:10 there


async def call(tools: TimerTools, ctx: ToolContext, name: str, **arguments: object) -> ToolOutcome:
    box = Toolbox([tools])
    return await box.run(ToolCall(name, dict(arguments)), await box.tools_for(ctx), ctx)


async def active(db: Database, user_id: str) -> list[store.Timer]:
    async with db.session() as s:
        return await store.list_active(s, user_id=user_id)


async def test_set_timer_says_when_it_ends_in_the_users_zone(db: Database, tools: TimerTools) -> None:
    ctx = ToolContext(await make_user(db, "alice"), timezone=PARIS)
    out = await call(tools, ctx, "set_timer", seconds=10)
    assert out.ok and out.result == "Timer set for 10 seconds; it ends at 14:03:20.", out
    out = await call(tools, ctx, "set_timer", duration="1h30m", label="  bread   dough ")
    assert out.result == "Timer 'bread dough' set for 1 hour 30 minutes; it ends at 15:33:10.", out
    (first, second) = await active(db, ctx.user_id)
    assert first.due_at == datetime(2026, 12, 2, 13, 3, 20, tzinfo=UTC) and first.kind == "timer"
    assert second.text == "bread dough" and second.due_at == datetime(2026, 12, 2, 14, 33, 10, tzinfo=UTC)


async def test_durations_in_words(db: Database, tools: TimerTools) -> None:
    ctx = ToolContext(await make_user(db, "alice"), timezone="UTC")
    for duration, said in [
        ("10 minutes", "10 minutes"),
        ("PT90S", "1 minute 30 seconds"),
        ("an hour and 15 mins", "1 hour 15 minutes"),
    ]:
        out = await call(tools, ctx, "set_timer", duration=duration)
        assert out.ok and out.result.startswith(f"Timer set for {said};"), (duration, out)
        await call(tools, ctx, "cancel_timer")


async def test_reminders_read_times_in_the_users_zone(db: Database, tools: TimerTools, now: FakeNow) -> None:
    ctx = ToolContext(await make_user(db, "alice"), timezone="America/New_York")  # 08:03:10 there
    out = await call(tools, ctx, "set_reminder", text="call mum", when="15:30")
    assert out.result == "Reminder set for 15:30:00 (in 7 hours 26 minutes): call mum.", out
    out = await call(tools, ctx, "set_reminder", text="stretch", when="7:00")  # passed today: tomorrow
    assert out.result.startswith("Reminder set for tomorrow at 07:00:00"), out
    out = await call(tools, ctx, "set_reminder", text="tea", when="in 20 minutes")
    assert out.result.startswith("Reminder set for 08:23:10 (in 20 minutes)"), out
    due = [t.due_at for t in await active(db, ctx.user_id)]
    assert due == [
        datetime(2026, 12, 2, 13, 23, 10, tzinfo=UTC),
        datetime(2026, 12, 2, 20, 30, tzinfo=UTC),
        datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
    ]
    # an ISO time with an offset is that moment, whatever the user's zone
    await call(tools, ctx, "cancel_timer", label="tea")
    out = await call(tools, ctx, "set_reminder", text="tea", when="2026-12-04T09:00:00+01:00")
    assert out.ok and out.result.startswith("Reminder set for Friday 4 December at 03:00:00"), out


async def test_bad_input_is_told_to_the_model(db: Database, tools: TimerTools) -> None:
    ctx = ToolContext(await make_user(db, "alice"), timezone=PARIS)
    cases = [
        ("set_timer", {"seconds": 0}, "from 1 second to 7 days"),
        ("set_timer", {"duration": "8 days"}, "from 1 second to 7 days"),
        ("set_timer", {"duration": "soonish"}, "could not read 'soonish' as a duration"),
        ("set_timer", {"seconds": True}, "a duration is a number"),
        ("set_timer", {}, "give 'seconds' or a 'duration'"),
        ("set_timer", {"seconds": 5, "label": "x" * 101}, "at most 100 characters"),
        ("set_reminder", {"when": "15:00"}, "'text' is required"),
        ("set_reminder", {"text": "a", "when": "25:00"}, "could not read '25:00' as a time"),
        ("set_reminder", {"text": "a", "when": "2026-12-01T10:00"}, "has already passed"),
        ("set_reminder", {"text": "a", "when": "2028-01-01T10:00"}, "at most a year ahead"),
        ("cancel_timer", {"label": "tea"}, "no active timer or reminder with label 'tea'"),
    ]
    for name, arguments, told in cases:
        out = await call(tools, ctx, name, **arguments)
        assert not out.ok and out.result.startswith("error: ") and told in out.result, (name, arguments, out)
    out = await call(tools, ToolContext(ctx.user_id, timezone="Mars/Olympus"), "set_timer", seconds=5)
    assert not out.ok and "unknown time zone 'Mars/Olympus'" in out.result
    assert await active(db, ctx.user_id) == []  # nothing half-made


async def test_active_timers_are_bounded_per_user(db: Database, tools: TimerTools) -> None:
    alice = ToolContext(await make_user(db, "alice"))
    bob = ToolContext(await make_user(db, "bob"))
    for n in range(3):
        assert (await call(tools, alice, "set_timer", seconds=60 + n)).ok
    out = await call(tools, alice, "set_timer", seconds=60)
    assert not out.ok and "already 3 active timers" in out.result
    assert (await call(tools, bob, "set_timer", seconds=60)).ok  # a per-user bound
    assert (await call(tools, alice, "cancel_timer", id=(await active(db, alice.user_id))[0].id)).ok
    assert (await call(tools, alice, "set_timer", seconds=60)).ok


async def test_another_users_timers_are_invisible_and_uncancellable(db: Database, tools: TimerTools) -> None:
    alice = ToolContext(await make_user(db, "alice"), timezone="UTC")
    bob = ToolContext(await make_user(db, "bob"), timezone="UTC")
    assert (await call(tools, alice, "set_timer", seconds=300, label="tea")).ok
    (timer,) = await active(db, alice.user_id)
    assert (await call(tools, bob, "list_timers")).result == "There are no active timers or reminders."
    for arguments in ({"id": timer.id}, {"id": timer.id[:6]}, {"label": "tea"}, {}):
        out = await call(tools, bob, "cancel_timer", **arguments)
        assert not out.ok and "no active timer" in out.result, (arguments, out)
    listed = (await call(tools, alice, "list_timers")).result
    assert listed == f"1 active:\n- timer 'tea' (id {timer.id[:6]}) at 13:08:10, in 5 minutes", listed
    assert (await call(tools, alice, "cancel_timer", id=timer.id[:6])).result == "Timer 'tea' cancelled."
    assert await active(db, alice.user_id) == []


async def test_cancel_asks_which_when_several_match(db: Database, tools: TimerTools) -> None:
    ctx = ToolContext(await make_user(db, "alice"))
    await call(tools, ctx, "set_timer", seconds=60, label="tea")
    await call(tools, ctx, "set_timer", seconds=120, label="Tea")
    out = await call(tools, ctx, "cancel_timer", label="TEA")
    assert not out.ok and "2 match; say which by id" in out.result
    assert len(await active(db, ctx.user_id)) == 2
