"""Queries: chat sessions and their messages. Every lookup is scoped by user_id: another
user's id simply is not found."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import ChatSession, Message, is_id, utcnow

DEFAULT_TITLE = "New chat"
TITLE_CHARS = 60


def title_from(text: str) -> str:
    """A session title from the first thing the user said."""
    line = " ".join(db_text(text).split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


def db_text(text: str) -> str:
    """Text as every database can hold it: PostgreSQL's text type cannot hold NUL, and a model
    (or a transcript) could produce one."""
    return text.replace("\x00", "")


async def create_session(
    session: AsyncSession, *, user_id: str, title: str | None = None, model: str | None = None
) -> ChatSession:
    chat = ChatSession(user_id=user_id, title=title or DEFAULT_TITLE, model=model)
    session.add(chat)
    await session.flush()
    return chat


async def list_sessions(session: AsyncSession, *, user_id: str, limit: int = 500) -> list[ChatSession]:
    stmt = (
        select(ChatSession)
        .where(ChatSession.user_id == user_id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.created_at.desc())
        .limit(limit)
    )
    return list(await session.scalars(stmt))


async def get_session(session: AsyncSession, *, user_id: str, session_id: str) -> ChatSession | None:
    if not is_id(session_id):
        return None
    stmt = select(ChatSession).where(ChatSession.id == session_id, ChatSession.user_id == user_id)
    return await session.scalar(stmt)


async def update_session(
    session: AsyncSession, *, chat: ChatSession, title: str | None = None, model: str | None = None
) -> ChatSession:
    if title is not None:
        chat.title = title
    if model is not None:
        chat.model = model
    chat.updated_at = utcnow()
    await session.flush()
    return chat


async def delete_session(session: AsyncSession, *, chat: ChatSession) -> None:
    await session.delete(chat)
    await session.flush()


async def list_messages(session: AsyncSession, *, session_id: str) -> list[Message]:
    stmt = select(Message).where(Message.session_id == session_id).order_by(Message.pk)
    return list(await session.scalars(stmt))


async def history(session: AsyncSession, *, session_id: str, limit: int = 200) -> list[dict[str, str]]:
    """The conversation so far as LLM messages, oldest first: complete messages, and spoken
    answers that were interrupted as far as the listener heard them (saved cut there)."""
    stmt = (
        select(Message.role, Message.content)
        .where(
            Message.session_id == session_id,
            (Message.status == "complete") | ((Message.status == "interrupted") & (Message.content != "")),
        )
        .order_by(Message.pk.desc())
        .limit(limit)
    )
    rows = list(await session.execute(stmt))
    return [{"role": role, "content": content} for role, content in reversed(rows)]


async def add_message(
    session: AsyncSession,
    *,
    session_id: str,
    role: str,
    content: str = "",
    status: str = "complete",
    kind: str = "text",
    model: str | None = None,
) -> Message:
    message = Message(
        session_id=session_id, role=role, content=db_text(content), status=status, kind=kind, model=model
    )
    session.add(message)
    chat = await session.get(ChatSession, session_id)
    if chat is not None:
        chat.updated_at = utcnow()
    await session.flush()
    return message


async def finish_message(
    session: AsyncSession,
    *,
    message_id: str,
    content: str,
    status: str,
    reasoning: str = "",
    error: str | None = None,
    model: str | None = None,
    served_by: str | None = None,
    timings: dict[str, Any] | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> Message | None:
    """Write an answer's final text and status (complete, stopped, error, interrupted)."""
    message = await session.scalar(select(Message).where(Message.id == message_id))
    if message is None:
        return None
    message.content = db_text(content)
    message.reasoning = db_text(reasoning)
    message.status = status
    message.error = None if error is None else db_text(error)
    message.served_by = served_by
    message.timings = timings
    message.tool_calls = _clean(tool_calls) if tool_calls else None
    if model is not None:
        message.model = model
    message.updated_at = utcnow()
    await session.flush()
    return message


def _clean(value: Any) -> Any:
    """`db_text` all the way down: a tool's result or the model's arguments may hold NUL."""
    if isinstance(value, str):
        return db_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {db_text(str(k)): _clean(v) for k, v in value.items()}
    return value


async def save_partial(session: AsyncSession, *, message_id: str, content: str, reasoning: str) -> None:
    """Progress of an answer still streaming: a crash then loses at most a few seconds of it."""
    await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == "streaming")
        .values(content=db_text(content), reasoning=db_text(reasoning), updated_at=utcnow())
    )


async def fail_stale_streams(session: AsyncSession, *, older_than: datetime | None, error: str) -> int:
    """Answers left "streaming" by a process that died: mark them as errors so no client waits.
    `older_than=None` takes every one (safe only when no other process shares the database)."""
    stmt = update(Message).where(Message.status == "streaming")
    if older_than is not None:
        stmt = stmt.where(Message.updated_at < older_than)
    result = await session.execute(stmt.values(status="error", error=error, updated_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)
