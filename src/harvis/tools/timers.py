"""Timer and reminder tools: set_timer, set_reminder, list_timers, cancel_timer, for one user.

Each answers with a short sentence the model can say as is; times are read and said in the
user's zone (ToolContext.timezone). The REST API runs the same code (api/timers.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from harvis.store import timers as store
from harvis.store.db import Database
from harvis.store.models import Timer, is_id, utcnow
from harvis.tools.base import Tool, ToolContext, ToolFailed, ToolSpec
from harvis.tools.timer_clock import TimerClock
from harvis.tools.timer_text import parse_duration, parse_when, say_duration, say_moment, zone_of

MIN_S, MAX_TIMER_S = 1.0, 7 * 86400.0
MAX_REMINDER_S = 366 * 86400.0
MAX_LABEL, MAX_TEXT = 100, 500
_STR = {"type": "string"}

SPECS = {
    "set_timer": ToolSpec(
        "set_timer",
        "Start a countdown timer (1 second to 7 days). Give seconds or a duration such as '10 minutes'.",
        {
            "type": "object",
            "properties": {
                "seconds": {"type": "number", "description": "length in seconds"},
                "duration": {**_STR, "description": "length in words, e.g. '10 minutes', '1h30m'"},
                "label": {**_STR, "description": "what the timer is for, e.g. 'tea' (optional)"},
            },
        },
    ),
    "set_reminder": ToolSpec(
        "set_reminder",
        "Remind the user of something at a time: 'in 20 minutes', '15:30', 'tomorrow at 9am' or an ISO time.",
        {
            "type": "object",
            "properties": {
                "text": {**_STR, "description": "what to remind the user of"},
                "when": {**_STR, "description": "when, in the user's local time"},
            },
            "required": ["text", "when"],
        },
    ),
    "list_timers": ToolSpec(
        "list_timers", "List the user's active timers and reminders.", {"type": "object", "properties": {}}
    ),
    "cancel_timer": ToolSpec(
        "cancel_timer",
        "Cancel a timer or reminder by its id (as list_timers gives it) or its label.",
        {"type": "object", "properties": {"id": _STR, "label": _STR}},
    ),
}


@dataclass(frozen=True)
class _Tool:
    spec: ToolSpec
    run: Callable[[dict[str, Any], ToolContext], Awaitable[str]]

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return await self.run(arguments, context)


def _text(arguments: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str:
    value = arguments.get(name)
    if value is None or value == "":
        if required:
            raise ToolFailed(f"'{name}' is required")
        return ""
    if not isinstance(value, str):
        raise ToolFailed(f"'{name}' is text")
    value = " ".join(value.split())
    if len(value) > limit:
        raise ToolFailed(f"'{name}' is at most {limit} characters")
    return value


def short_id(timer: Timer) -> str:
    return timer.id[:6]


class TimerTools:
    """The provider: the same four tools for every user, each acting for the caller only."""

    def __init__(
        self, db: Database, clock: TimerClock, *, max_active: int = 50, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.db, self.clock, self.max_active, self._now = db, clock, max_active, now
        runs = {
            "set_timer": self._said(self.set_timer),
            "set_reminder": self._said(self.set_reminder),
            "list_timers": self.list_timers,
            "cancel_timer": self._said(self.cancel_timer),
        }
        self.tools: list[Tool] = [_Tool(SPECS[name], run) for name, run in runs.items()]

    async def tools_for(self, context: ToolContext) -> list[Tool]:
        return list(self.tools)

    @staticmethod
    def _said(
        fn: Callable[[dict[str, Any], ToolContext], Awaitable[tuple[Timer, str]]],
    ) -> Callable[[dict[str, Any], ToolContext], Awaitable[str]]:
        async def run(arguments: dict[str, Any], context: ToolContext) -> str:
            return (await fn(arguments, context))[1]

        return run

    # ---- the tools (each returns the timer and the sentence for the model)
    async def set_timer(self, arguments: dict[str, Any], context: ToolContext) -> tuple[Timer, str]:
        zone, now = zone_of(context.timezone), self._now()
        if arguments.get("seconds") is not None:
            seconds = parse_duration(arguments["seconds"])
        elif arguments.get("duration") is not None:
            seconds = parse_duration(arguments["duration"])
        else:
            raise ToolFailed("give 'seconds' or a 'duration' such as '10 minutes'")
        if not MIN_S <= seconds <= MAX_TIMER_S:
            raise ToolFailed("a timer lasts from 1 second to 7 days")
        label = _text(arguments, "label", MAX_LABEL)
        timer = await self._create(context, "timer", label, now + timedelta(seconds=seconds))
        name = f"Timer '{label}'" if label else "Timer"
        return (
            timer,
            f"{name} set for {say_duration(seconds)}; it ends at {say_moment(timer.due_at, zone, now)}.",
        )

    async def set_reminder(self, arguments: dict[str, Any], context: ToolContext) -> tuple[Timer, str]:
        zone, now = zone_of(context.timezone), self._now()
        text = _text(arguments, "text", MAX_TEXT, required=True)
        due = parse_when(arguments.get("when"), zone, now)
        ahead = (due - now).total_seconds()
        if ahead < MIN_S:
            raise ToolFailed(f"{say_moment(due, zone, now)} has already passed; give a time in the future")
        if ahead > MAX_REMINDER_S:
            raise ToolFailed("a reminder can be set at most a year ahead")
        timer = await self._create(context, "reminder", text, due)
        return timer, f"Reminder set for {say_moment(due, zone, now)} (in {say_duration(ahead)}): {text}."

    async def list_timers(self, arguments: dict[str, Any], context: ToolContext) -> str:
        zone, now = zone_of(context.timezone), self._now()
        async with self.db.session() as session:
            active = await store.list_active(session, user_id=context.user_id)
        if not active:
            return "There are no active timers or reminders."
        lines = [f"{len(active)} active:"]
        for t in active:
            left = say_duration(max(1.0, (t.due_at - now).total_seconds()))
            what = f"timer '{t.text}'" if t.kind == "timer" and t.text else t.kind
            about = f": {t.text}" if t.kind == "reminder" else ""
            lines.append(
                f"- {what} (id {short_id(t)}) at {say_moment(t.due_at, zone, now)}, in {left}{about}"
            )
        return "\n".join(lines)

    async def cancel_timer(self, arguments: dict[str, Any], context: ToolContext) -> tuple[Timer, str]:
        wanted_id = _text(arguments, "id", 64).lower()
        label = _text(arguments, "label", MAX_TEXT).lower()
        async with self.db.session() as session:
            active = await store.list_active(session, user_id=context.user_id)
            if wanted_id:  # the whole id, or the short one list_timers says
                found = [t for t in active if len(wanted_id) >= 4 and t.id.startswith(wanted_id)]
            elif label:
                found = [t for t in active if t.text.lower() == label]
            else:
                found = active  # "cancel the timer" with only one set
            if not found:
                what = f"id {wanted_id}" if wanted_id else f"label '{label}'" if label else "any"
                raise ToolFailed(f"there is no active timer or reminder with {what}")
            if len(found) > 1:
                ids = ", ".join(f"{short_id(t)} ('{t.text}')" if t.text else short_id(t) for t in found)
                raise ToolFailed(f"{len(found)} match; say which by id: {ids}")
            timer = found[0]
            if not await store.cancel_timer(
                session, user_id=context.user_id, timer_id=timer.id, at=self._now()
            ):
                raise ToolFailed("it has just gone off or was cancelled already")
            await session.commit()
        self.clock.wake()
        name = f"{timer.kind.capitalize()} '{timer.text}'" if timer.text else timer.kind.capitalize()
        return timer, f"{name} cancelled."

    async def _create(self, context: ToolContext, kind: str, text: str, due: datetime) -> Timer:
        session_id = context.session_id if context.session_id and is_id(context.session_id) else None
        async with self.db.session() as session:
            timer = await store.create_timer(
                session,
                user_id=context.user_id,
                kind=kind,
                text=text,
                due_at=due,
                session_id=session_id,
                created_at=self._now(),
                limit=self.max_active,
            )
            if timer is None:
                raise ToolFailed(
                    f"there are already {self.max_active} active timers and reminders; cancel one first"
                )
            await session.commit()
        self.clock.wake()
        return timer
