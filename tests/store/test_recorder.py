"""A whole turn saved through the real recorder, on SQLite and PostgreSQL: what the user said
before the LLM is called, the answer at the end, cleaned once for the database."""

from __future__ import annotations

import uuid

import numpy as np

from harvis.config import PipelineSettings
from harvis.llm.types import Delta
from harvis.pipeline.recorder import DbRecorder
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio
from harvis.store import chats, users
from harvis.store.db import Database
from tests.support.voice import ScriptedLLM, StandInSpeech, end

AUDIO = Audio(np.zeros(16000, np.float32), 16000)


async def _user_id(db: Database) -> str:
    async with db.session() as s:
        user = await users.create_user(
            s, username=f"u{uuid.uuid4().hex[:10]}", password_hash="x", is_admin=False
        )
        await s.commit()
        return user.id


async def _saved(db: Database, session_id: str) -> list[tuple[str, str, str, str]]:
    async with db.session() as s:
        rows = await chats.list_messages(s, session_id=session_id)
        return [(m.role, m.kind, m.status, m.content) for m in rows]


async def test_a_voice_answer_with_a_nul_byte_is_saved_without_it(db: Database) -> None:
    user_id = await _user_id(db)
    llm = ScriptedLLM([Delta(content="Paris is the capital\x00 of France."), end()])
    recorder = DbRecorder(db, user_id=user_id, session_id=None, kind="voice")
    turn = Turn(
        llm=llm,
        speech=StandInSpeech(transcript="what is the capital of france\x00"),
        recorder=recorder,
        settings=PipelineSettings(filler_after_s=-1),
        options=TurnOptions(model="smollm2:135m"),
    )
    events = [e async for e in turn.events(AUDIO)]
    assert events[-1].name == "done", events[-1]
    assert recorder.session_id is not None
    assert await _saved(db, recorder.session_id) == [
        ("user", "voice", "complete", "what is the capital of france"),
        ("assistant", "voice", "complete", "Paris is the capital of France."),
    ]


async def test_a_text_turn_saves_through_the_same_recorder(db: Database) -> None:
    user_id = await _user_id(db)
    llm = ScriptedLLM([Delta(content="Hello\x00 there."), end()])
    recorder = DbRecorder(db, user_id=user_id, session_id=None, kind="text", chosen_model="smollm2:135m")
    turn = Turn(
        llm=llm,
        recorder=recorder,
        settings=PipelineSettings(),
        options=TurnOptions(model="smollm2:135m", speak=False),
    )
    started = await turn.begin("Say hello")
    names = [e.name async for e in turn.answer(started)]
    assert names == ["session", "token", "done"]
    assert await _saved(db, started.session_id) == [
        ("user", "text", "complete", "Say hello"),
        ("assistant", "text", "complete", "Hello there."),
    ]
    async with db.session() as s:
        chat = await chats.get_session(s, user_id=user_id, session_id=started.session_id)
        assert chat is not None and chat.title == "Say hello" and chat.model == "smollm2:135m"
