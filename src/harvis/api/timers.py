"""Timers and reminders over HTTP: the user's list, setting one (the same code as the model's
tools), cancelling one, and GET /api/timers/events, a Server-Sent Events stream of the user's
timers as they go off (the web UI's announcement). Each user sees only their own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from harvis.api.deps import CurrentUser, DbSession, ServicesDep
from harvis.api.fields import CleanStr
from harvis.api.routing import api_router
from harvis.api.schema_docs import SSE_EVENT, Responses
from harvis.api.services import Services
from harvis.api.sse import EventStreamResponse
from harvis.errors import Conflict, HarvisError, Invalid, NotFound, RateLimited, ServiceUnavailable
from harvis.store import chats
from harvis.store import timers as store
from harvis.store.models import Timer, utcnow
from harvis.tools.base import ToolContext, ToolFailed
from harvis.tools.timer_clock import MAX_SUBSCRIBERS, TimerEvent
from harvis.tools.timers import TimerTools

router = api_router(tags=["timers"])
RECENT = timedelta(hours=1)  # fired timers the list still shows
KEEPALIVE_S = 15.0  # a comment line this often: proxies keep the stream, a gone client is noticed


class TimerIn(BaseModel):
    """A timer (`seconds` or `duration`, optional `label`) or a reminder (`text` and `when`)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["timer", "reminder"] = "timer"
    seconds: float | None = None
    duration: CleanStr | None = Field(default=None, max_length=100)
    label: CleanStr | None = Field(default=None, max_length=100)
    text: CleanStr | None = Field(default=None, max_length=500)
    when: CleanStr | None = Field(default=None, max_length=100)
    timezone: CleanStr | None = Field(default=None, max_length=64, description="IANA name, e.g. Europe/Paris")
    session_id: CleanStr | None = Field(default=None, max_length=64)


class TimerOut(BaseModel):
    id: str
    kind: str
    text: str
    status: Literal["active", "fired", "cancelled"]
    due_at: datetime
    created_at: datetime
    fired_at: datetime | None
    cancelled_at: datetime | None
    session_id: str | None


class TimerList(BaseModel):
    timers: list[TimerOut]


class TimerSet(BaseModel):
    timer: TimerOut
    message: str  # what the model would have been told


def timer_out(t: Timer) -> TimerOut:
    status: Literal["active", "fired", "cancelled"] = (
        "cancelled" if t.cancelled_at else "fired" if t.fired_at else "active"
    )
    return TimerOut(
        id=t.id,
        kind=t.kind,
        text=t.text,
        status=status,
        due_at=t.due_at,
        created_at=t.created_at,
        fired_at=t.fired_at,
        cancelled_at=t.cancelled_at,
        session_id=t.session_id,
    )


def timer_tools(svc: Services) -> TimerTools:
    if svc.timers is None:
        raise ServiceUnavailable("the timers are still starting; try again shortly", code="starting")
    return svc.timers


@router.get("/api/timers")
async def list_timers(user: CurrentUser, db: DbSession) -> TimerList:
    """The user's active timers and those that went off in the last hour, soonest first."""
    found = await store.list_recent(db, user_id=user.id, fired_since=utcnow() - RECENT)
    return TimerList(timers=[timer_out(t) for t in found])


@router.post("/api/timers", status_code=201)
async def set_timer(body: TimerIn, user: CurrentUser, db: DbSession, svc: ServicesDep) -> TimerSet:
    tools = timer_tools(svc)
    if body.session_id and await chats.get_session(db, user_id=user.id, session_id=body.session_id) is None:
        raise NotFound("no such session", code="session_not_found")
    context = ToolContext(user.id, session_id=body.session_id, timezone=body.timezone)
    arguments = body.model_dump(exclude_none=True, exclude={"kind", "timezone", "session_id"})
    try:
        if body.kind == "timer":
            timer, message = await tools.set_timer(arguments, context)
        else:
            timer, message = await tools.set_reminder(arguments, context)
    except ToolFailed as exc:
        raise Invalid(str(exc), code="bad_timer") from exc
    return TimerSet(timer=timer_out(timer), message=message)


@router.delete("/api/timers/{timer_id}", status_code=204)
async def cancel_timer(timer_id: str, user: CurrentUser, db: DbSession, svc: ServicesDep) -> Response:
    if await store.get_timer(db, user_id=user.id, timer_id=timer_id) is None:
        raise NotFound("no such timer", code="timer_not_found")
    if not await store.cancel_timer(db, user_id=user.id, timer_id=timer_id, at=utcnow()):
        raise Conflict("the timer has gone off or was cancelled already", code="timer_not_active")
    await db.commit()
    if svc.timers is not None:
        svc.timers.clock.wake()
    return Response(status_code=204)


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


_EXAMPLE = TimerEvent(
    "3f2a0c",
    "u",
    "timer",
    "tea",
    datetime(2026, 12, 2, 14, 3),
    datetime(2026, 12, 2, 14, 3),
    None,
    "The tea timer is done.",
)
TIMER_STREAM: Responses = {
    200: {
        "description": "Server-Sent Events: `ready` once subscribed (with the server's `now`), then a "
        "`timer` event for each of the user's timers and reminders as it goes off (also those that went "
        "off while no stream was open, up to 10 minutes back). Comment lines keep the stream alive; it "
        "does not end by itself.",
        "content": {
            "text/event-stream": {
                "schema": SSE_EVENT,
                "example": (
                    _sse("ready", {"now": "2026-12-02T14:02:58+00:00"}) + _sse("timer", _EXAMPLE.payload())
                ).decode(),
            }
        },
    }
}


@router.get("/api/timers/events", response_class=EventStreamResponse, responses=TIMER_STREAM)
async def timer_events(user: CurrentUser, svc: ServicesDep) -> EventStreamResponse:
    hub = timer_tools(svc).clock.hub
    if hub.subscribers(user.id, "events") >= MAX_SUBSCRIBERS:  # a 429 before the stream starts
        raise RateLimited(f"at most {MAX_SUBSCRIBERS} open timer streams per user", code="too_many_streams")
    user_id = user.id

    async def events() -> AsyncGenerator[bytes, None]:
        try:
            async with hub.subscribe(user_id, "events") as queue:
                yield _sse("ready", {"now": utcnow().isoformat()})
                while True:
                    try:
                        async with asyncio.timeout(KEEPALIVE_S):
                            event = await queue.get()
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if event is None:  # the server is stopping; EventSource reconnects later
                        return
                    yield _sse("timer", event.payload())
        except HarvisError as exc:  # lost a race for the last subscription
            yield _sse("error", {"code": exc.code, "message": exc.message})

    return EventStreamResponse(events())
