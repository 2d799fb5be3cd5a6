"""Chat sessions and their messages (each user sees only their own; others' ids are 404)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel, Field

from harvis.api.deps import CurrentUser, DbSession
from harvis.api.fields import CleanStr
from harvis.api.routing import api_router
from harvis.errors import NotFound
from harvis.store import chats
from harvis.store.models import ChatSession, Message

router = api_router(tags=["sessions"])


class SessionIn(BaseModel):
    title: CleanStr | None = Field(default=None, max_length=200)
    model: CleanStr | None = Field(default=None, max_length=200)


class SessionPatch(BaseModel):
    title: CleanStr | None = Field(default=None, min_length=1, max_length=200)
    model: CleanStr | None = Field(default=None, min_length=1, max_length=200)


class SessionOut(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None


class ToolCallOut(BaseModel):
    """One tool call of an answer: what the model asked and what it was told."""

    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool
    ms: float


class MessageOut(BaseModel):
    id: str
    role: str
    content: str
    reasoning: str
    status: str
    error: str | None
    model: str | None
    served_by: str | None
    kind: str
    timings: dict[str, Any] | None
    tool_calls: list[ToolCallOut] = []
    created_at: datetime


def session_out(chat: ChatSession) -> SessionOut:
    return SessionOut(
        id=chat.id, title=chat.title, created_at=chat.created_at, updated_at=chat.updated_at, model=chat.model
    )


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        id=m.id,
        role=m.role,
        content=m.content,
        reasoning=m.reasoning,
        status=m.status,
        error=m.error,
        model=m.model,
        served_by=m.served_by,
        kind=m.kind,
        timings=m.timings,
        tool_calls=[ToolCallOut.model_validate(c) for c in m.tool_calls or []],
        created_at=m.created_at,
    )


async def own_session(session: DbSession, user_id: str, session_id: str) -> ChatSession:
    chat = await chats.get_session(session, user_id=user_id, session_id=session_id)
    if chat is None:
        raise NotFound("no such session", code="session_not_found")
    return chat


@router.get("/api/sessions", response_model=list[SessionOut])
async def list_sessions(user: CurrentUser, session: DbSession) -> list[SessionOut]:
    return [session_out(c) for c in await chats.list_sessions(session, user_id=user.id)]


@router.post("/api/sessions", status_code=201, response_model=SessionOut)
async def create_session(user: CurrentUser, session: DbSession, body: SessionIn | None = None) -> SessionOut:
    body = body or SessionIn()
    chat = await chats.create_session(session, user_id=user.id, title=body.title, model=body.model)
    await session.commit()
    return session_out(chat)


@router.get("/api/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: str, user: CurrentUser, session: DbSession) -> SessionOut:
    return session_out(await own_session(session, user.id, session_id))


@router.patch("/api/sessions/{session_id}", response_model=SessionOut)
async def patch_session(
    session_id: str, body: SessionPatch, user: CurrentUser, session: DbSession
) -> SessionOut:
    chat = await own_session(session, user.id, session_id)
    await chats.update_session(session, chat=chat, title=body.title, model=body.model)
    await session.commit()
    return session_out(chat)


@router.delete("/api/sessions/{session_id}", status_code=204)
async def delete_session(session_id: str, user: CurrentUser, session: DbSession) -> Response:
    chat = await own_session(session, user.id, session_id)
    await chats.delete_session(session, chat=chat)
    await session.commit()
    return Response(status_code=204)


@router.get("/api/sessions/{session_id}/messages", response_model=list[MessageOut])
async def list_messages(session_id: str, user: CurrentUser, session: DbSession) -> list[MessageOut]:
    await own_session(session, user.id, session_id)
    return [message_out(m) for m in await chats.list_messages(session, session_id=session_id)]
