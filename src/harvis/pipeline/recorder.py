"""Saving a voice exchange in the user's chat session (the store's TurnRecorder).

The transcript is committed as the user's message, with an empty "streaming" answer, before
the LLM is called; the answer is written once at the end (complete, error, or interrupted and
cut to what was spoken). Each step opens its own database session: a turn outlives the
request that started it.
"""

from __future__ import annotations

from typing import Any

from harvis.pipeline.events import SessionStarted
from harvis.store import chats
from harvis.store.db import Database

TITLE_CHARS = 60


def title_from(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"


class DbRecorder:
    def __init__(self, db: Database, *, user_id: str, session_id: str | None) -> None:
        self.db = db
        self.user_id = user_id
        self.session_id = session_id  # None: the first turn creates a session
        self.assistant_message_id: str | None = None

    async def begin(self, transcript: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        async with self.db.session() as db:
            chat = None
            if self.session_id:
                chat = await chats.get_session(db, user_id=self.user_id, session_id=self.session_id)
            if chat is None:  # checked before the turn started; gone since only if deleted meanwhile
                chat = await chats.create_session(db, user_id=self.user_id, title=title_from(transcript),
                                                  model=model)
            elif chat.title == chats.DEFAULT_TITLE:
                chat.title = title_from(transcript)
            past = await chats.history(db, session_id=chat.id)
            user_message = await chats.add_message(db, session_id=chat.id, role="user", content=transcript,
                                                   kind="voice")
            answer = await chats.add_message(db, session_id=chat.id, role="assistant", status="streaming",
                                             kind="voice", model=model)
            await db.commit()
        self.session_id, self.assistant_message_id = chat.id, answer.id
        started = SessionStarted(chat.id, user_message.id, answer.id)
        return started, [*past, {"role": "user", "content": transcript}]

    async def finish(self, *, content: str, reasoning: str, status: str, error: str | None,
                     served_by: str | None, model: str | None, timings: dict[str, float | None]) -> None:
        if self.assistant_message_id is None:
            return
        async with self.db.session() as db:
            await chats.finish_message(db, message_id=self.assistant_message_id, content=content,
                                       reasoning=reasoning, status=status, error=error, model=model,
                                       served_by=served_by, timings=dict(timings))
            await db.commit()
