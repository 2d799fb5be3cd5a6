"""Saved as heard on the realtime session, over a real SQLite store: the client's playback
report cuts the saved answer (word level within the clause), marks it interrupted, and the
next turn's LLM context holds only what was heard."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from harvis.pipeline.heard import words_within
from harvis.pipeline.recorder import DbRecorder
from harvis.pipeline.turn import TurnOptions
from harvis.store import users
from harvis.store.db import Database
from harvis.store.models import Message
from tests.pipeline.test_realtime import FIRST, SECOND, Harness
from tests.support.voice import ScriptedLLM, end, words


async def test_a_playback_report_cuts_the_saved_answer_and_the_next_context(db: Database) -> None:
    async with db.session() as s:
        user = await users.create_user(s, username="dana", password_hash="x", is_admin=False)
        await s.commit()
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm)
    h.session.recorder_for = lambda sid: DbRecorder(db, user_id=user.id, session_id=sid, kind="voice")
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("done")
    audio = [m for m in h.sent if m["type"] == "audio"]
    assert [a["index"] for a in audio] == [0, 1]
    message_id = next(m for m in h.sent if m["type"] == "session")["assistant_message_id"]
    second_s = h.session.turn.audio_out[1][1] if h.session.turn else 0.0
    # The browser stopped the second clause a third of the way in.
    heard = await h.session.played(message_id, 1, second_s / 3)
    expected = f"{FIRST} {words_within(SECOND, 1 / 3)}".strip()
    assert heard == expected and heard != f"{FIRST} {SECOND}"
    assert h.sent[-1] == {"type": "truncated", "message_id": message_id, "text": expected}
    async with db.session() as s:
        saved = (await s.execute(select(Message).where(Message.id == message_id))).scalar_one()
    assert saved.status == "interrupted" and saved.content == expected
    assert await h.session.played("no-such-id", 0, 0.0) is None

    await h.say()  # the next turn
    await h.wait_for("done", 2)
    context = llm.requests[1].messages
    assistant = [m["content"] for m in context if m["role"] == "assistant"]
    assert assistant == [expected]  # only what was heard, not what was generated
    await h.session.close()


class SlowEndSave(DbRecorder):
    """The end-of-answer save ("complete") takes a while, as a busy database does."""

    entered = asyncio.Event()

    async def finish(self, **fields: Any) -> None:
        if fields["status"] == "complete":
            type(self).entered.set()
            await asyncio.sleep(0.3)
        await super().finish(**fields)


async def test_a_playback_report_during_the_end_of_answer_save_wins(db: Database) -> None:
    """The race CI once hit: the report arrives while the answer's own "complete" save is in
    flight; the saved answer must end up cut and interrupted, not overwritten as complete."""
    async with db.session() as s:
        user = await users.create_user(s, username="erin", password_hash="x", is_admin=False)
        await s.commit()
    SlowEndSave.entered = asyncio.Event()
    h = Harness(ScriptedLLM([*words(FIRST + " " + SECOND), end()]))
    h.session.recorder_for = lambda sid: SlowEndSave(db, user_id=user.id, session_id=sid, kind="voice")
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await asyncio.wait_for(SlowEndSave.entered.wait(), timeout=30)
    message_id = next(m for m in h.sent if m["type"] == "session")["assistant_message_id"]
    heard = await h.session.played(message_id, 0, 0.0)
    await h.wait_for("done")
    async with db.session() as s:
        saved = (await s.execute(select(Message).where(Message.id == message_id))).scalar_one()
    assert (saved.status, saved.content) == ("interrupted", heard)
    await h.session.close()
