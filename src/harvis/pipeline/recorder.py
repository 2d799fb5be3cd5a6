"""Saving a turn in the user's chat session (the store's TurnRecorder), for text and voice alike.

The user's words are committed, with an empty "streaming" answer, before the LLM is called;
progress is written while the answer streams, and the answer once at the end (complete,
error, or stopped/interrupted and cut to what the user got). Each step opens its own database
session: a turn outlives the request that started it.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from harvis.pipeline.events import SessionStarted
from harvis.store import chats
from harvis.store.db import Database

log = logging.getLogger(__name__)


class DbRecorder:
    def __init__(
        self,
        db: Database,
        *,
        user_id: str,
        session_id: str | None,
        kind: Literal["text", "voice"],
        chosen_model: str | None = None,
    ) -> None:
        self.db = db
        self.user_id = user_id
        self.session_id = session_id  # None: the first turn creates a session
        self.kind = kind
        self.chosen_model = chosen_model  # a model the user picked: remembered on the session
        self.assistant_message_id: str | None = None

    async def begin(self, text: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        async with self.db.session() as db:
            chat = None
            if self.session_id:
                chat = await chats.get_session(db, user_id=self.user_id, session_id=self.session_id)
            if chat is None:  # checked before the turn started; gone since only if deleted meanwhile
                chat = await chats.create_session(
                    db, user_id=self.user_id, title=chats.title_from(text), model=self.chosen_model
                )
            elif chat.title == chats.DEFAULT_TITLE:
                chat.title = chats.title_from(text)
            if self.chosen_model and self.chosen_model != chat.model:
                chat.model = self.chosen_model
            past = await chats.history(db, session_id=chat.id)
            user_message = await chats.add_message(
                db, session_id=chat.id, role="user", content=text, kind=self.kind
            )
            answer = await chats.add_message(
                db, session_id=chat.id, role="assistant", status="streaming", kind=self.kind, model=model
            )
            await db.commit()
        self.session_id, self.assistant_message_id = chat.id, answer.id
        started = SessionStarted(chat.id, user_message.id, answer.id)
        return started, [*past, {"role": "user", "content": chats.db_text(text)}]

    async def history(self, text: str) -> list[dict[str, Any]]:
        """The LLM history `begin(text)` would return, without saving anything (an answer
        started before the user's turn is certain; see pipeline.speculation)."""
        past: list[dict[str, Any]] = []
        if self.session_id:
            async with self.db.session() as db:
                chat = await chats.get_session(db, user_id=self.user_id, session_id=self.session_id)
                if chat is not None:
                    past = await chats.history(db, session_id=chat.id)
        return [*past, {"role": "user", "content": chats.db_text(text)}]

    async def progress(self, *, content: str, reasoning: str) -> None:
        if self.assistant_message_id is None:
            return
        try:
            async with self.db.session() as db:
                await chats.save_partial(
                    db, message_id=self.assistant_message_id, content=content, reasoning=reasoning
                )
                await db.commit()
        except Exception:  # progress is best effort; the final save is what counts
            log.warning("could not save the progress of message %s", self.assistant_message_id, exc_info=True)

    async def finish(
        self,
        *,
        content: str,
        reasoning: str,
        status: str,
        error: str | None,
        served_by: str | None,
        model: str | None,
        timings: dict[str, float | None],
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None:
        if self.assistant_message_id is None:
            return
        async with self.db.session() as db:
            await chats.finish_message(
                db,
                message_id=self.assistant_message_id,
                content=content,
                reasoning=reasoning,
                status=status,
                error=error,
                model=model,
                served_by=served_by,
                timings=dict(timings),
                tool_calls=tool_calls,
            )
            await db.commit()
