"""A conversation agent over Wyoming: `transcript` in, the LLM's answer out.

Each Home Assistant conversation id keeps one Harvis chat (of the account the server answers
for), so a follow-up question is answered with the earlier turns in view. The answer streams
as `handled-start`, a `handled-chunk` per piece of text, the whole `handled` (for clients
without streaming) and `handled-stop`; a failure is an `error` event and `not-handled`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from wyoming.asr import Transcript
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, HandledChunk, HandledStart, HandledStop, NotHandled

from harvis.errors import BadInput, ServiceUnavailable, TooLarge
from harvis.pipeline import events as ev
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.recorder import DbRecorder
from harvis.store import users
from harvis.store.db import Database

log = logging.getLogger(__name__)
Send = Callable[[Event], Awaitable[None]]
MAX_ID_CHARS = 200


class Conversations:
    """Home Assistant conversation id → Harvis chat session id, the most recent `size` kept."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._chats: OrderedDict[str, str] = OrderedDict()

    def get(self, conversation_id: str | None) -> str | None:
        if conversation_id is None or conversation_id not in self._chats:
            return None
        self._chats.move_to_end(conversation_id)
        return self._chats[conversation_id]

    def put(self, conversation_id: str | None, session_id: str) -> None:
        if conversation_id is None:
            return
        self._chats[conversation_id] = session_id
        self._chats.move_to_end(conversation_id)
        while len(self._chats) > self.size:
            self._chats.popitem(last=False)


class Agent:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        db: Database,
        model: Callable[[], str],
        username: str,
        max_chars: int,
        conversations: Conversations,
    ) -> None:
        self.pipeline, self.db, self.model = pipeline, db, model
        self.username, self.max_chars = username, max_chars
        self.conversations = conversations

    async def _user_id(self) -> str:
        async with self.db.session() as db:
            if self.username:
                user = await users.get_user_by_name(db, username=self.username)
                missing = f"the account {self.username!r} (HARVIS_WYOMING__USER) does not exist"
            else:
                user = await users.first_admin(db)
                missing = "there is no account yet: create one (`harvis users create`) first"
        if user is None:
            raise ServiceUnavailable(missing, code="no_account")
        return user.id

    async def handle(self, request: Transcript, send: Send) -> None:
        context: dict[str, Any] = dict(request.context or {}) if isinstance(request.context, dict) else {}
        raw_id = context.get("conversation_id")
        conversation_id = raw_id[:MAX_ID_CHARS] if isinstance(raw_id, str) and raw_id else None
        reply_context = {"conversation_id": conversation_id} if conversation_id else None
        text = request.text if isinstance(request.text, str) else ""
        try:
            if len(text) > self.max_chars:
                raise TooLarge(f"the text is longer than the limit of {self.max_chars} characters")
            if not text.strip():
                raise BadInput("there is nothing to answer: the transcript is empty", code="empty_text")
            user_id = await self._user_id()
        except (BadInput, ServiceUnavailable) as exc:
            await self._failed(send, exc.code, exc.message, reply_context)
            return
        options = dataclasses.replace(self.pipeline.voice_options(model=self.model()), speak=False)
        session_id = self.conversations.get(conversation_id)
        recorder = DbRecorder(self.db, user_id=user_id, session_id=session_id, kind="text")
        turn = self.pipeline.turn(recorder, options)
        try:
            started = await turn.begin(text)
        except Exception:
            log.exception("wyoming: could not save the user's words")
            await self._failed(send, "storage_failed", "the conversation could not be saved; try again", None)
            return
        self.conversations.put(conversation_id, started.session_id)
        await send(HandledStart(context=reply_context).event())
        async for event in turn.answer():
            if isinstance(event, ev.Token):
                await send(HandledChunk(text=event.text).event())
            elif isinstance(event, ev.Error):
                await self._failed(send, event.code, event.message, reply_context)
                await send(HandledStop().event())
                return
        await send(Handled(text=turn.content.strip(), context=reply_context).event())
        await send(HandledStop().event())

    async def _failed(self, send: Send, code: str, message: str, context: dict[str, Any] | None) -> None:
        await send(Error(text=message, code=code).event())
        await send(NotHandled(text=message, context=context).event())
