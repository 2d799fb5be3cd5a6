"""The realtime low-latency path with stand-in engines (loudness VAD, scripted LLM): parts
heard at pauses (partial transcripts), only the tail heard at the end, an answer started
during a pause (dropped unsent and unsaved when the user goes on, adopted when the turn ends
on the same words), the turn detector's rule, the first short clause, and the old path's flag."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from harvis.llm.types import Delta, ToolCall
from harvis.pipeline.chunker import ClauseChunker
from harvis.pipeline.endpointing import WINDOW, Endpointer
from harvis.pipeline.recorder import DbRecorder
from harvis.pipeline.turn import TurnOptions
from harvis.pipeline.turn_detector import end_of_turn_ms, looks_finished
from harvis.store import users
from harvis.store.db import Database
from harvis.store.models import Message
from harvis.tools.base import ToolContext, ToolSpec
from harvis.tools.toolbox import Toolbox
from tests.pipeline.test_realtime import FIRST, SECOND, Harness, pcm
from tests.support.voice import ScriptedLLM, end, words

MODEL = TurnOptions(model="smollm2:135m")
# Pauses of 224 ms (7 windows) count; the turn ends after 320 ms before a transcript is known.
FAST = {"pause_ms": 200, "end_of_turn_short_ms": 320, "end_of_turn_long_ms": 2000}


async def real_store(h: Harness, db: Database) -> None:
    async with db.session() as s:
        user = await users.create_user(s, username="erin", password_hash="x", is_admin=False)
        await s.commit()
    h.session.recorder_for = lambda sid: DbRecorder(db, user_id=user.id, session_id=sid, kind="voice")


async def saved_messages(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(Message))).scalar_one())


async def until(condition: object, what: str) -> None:
    for _ in range(2000):  # bounded: each round yields to the session's tasks
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_turn_detector_rule() -> None:
    assert looks_finished("What color is the sky on a clear day?")
    assert looks_finished("Tell me a joke.") and looks_finished("Stop!")
    assert looks_finished('He said "hello."')
    assert not looks_finished("I want to know the")  # no sentence end
    assert not looks_finished("What is the.")  # Whisper's period after an open-ended word
    assert not looks_finished("Can you tell me and...")  # trailing off
    assert not looks_finished("So…") and not looks_finished("")
    wait = {"default_ms": 700, "short_ms": 300, "long_ms": 1000}
    assert end_of_turn_ms(None, **wait) == 700
    assert end_of_turn_ms("Is it raining?", **wait) == 300
    assert end_of_turn_ms("Is it raining in", **wait) == 1000


def test_the_endpointer_hands_out_speech_at_pauses_and_only_the_tail_at_the_end() -> None:
    ep = Endpointer(start_ms=96, end_ms=640, pause_ms=200)
    loud, quiet = np.full(WINDOW, 0.3, np.float32), np.zeros(WINDOW, np.float32)
    kinds = []

    def feed(window: np.ndarray, prob: float, n: int) -> list[object]:
        out = [ep.push(window, prob) for _ in range(n)]
        kinds.extend(m.kind for m in out if m is not None)
        return [m for m in out if m is not None]

    feed(loud, 0.9, 10)  # speech starts
    paused = feed(quiet, 0.0, 8)  # a pause of 256 ms: the speech so far is handed out
    assert kinds == ["speech_started", "paused"]
    assert paused[0].audio is not None and len(paused[0].audio) >= 10 * WINDOW  # type: ignore[attr-defined]
    feed(loud, 0.9, 5)  # the user goes on
    assert kinds[-1] == "resumed"
    again = feed(quiet, 0.0, 20)
    assert [m.kind for m in again] == ["paused", "turn_ended"]  # type: ignore[attr-defined]
    second, ended = again[0].audio, again[1]  # type: ignore[attr-defined]
    assert second is not None and 5 * WINDOW <= len(second) < 15 * WINDOW  # what followed the pause
    assert ended.tail is None and ended.audio is not None  # type: ignore[attr-defined]
    assert len(ended.audio) >= 15 * WINDOW  # type: ignore[attr-defined]  # the whole utterance
    # Ended while speaking (push-to-talk released): what followed the last pause is the tail.
    feed(loud, 0.9, 10)
    feed(quiet, 0.0, 8)
    feed(loud, 0.9, 6)
    released = ep.end()
    assert released is not None and released.tail is not None
    assert 6 * WINDOW <= len(released.tail) < 15 * WINDOW
    # Cumulative: a pause hands out all of the utterance so far, and so does the tail.
    ep = Endpointer(start_ms=96, end_ms=640, pause_ms=200, cumulative=True)
    feed(loud, 0.9, 10)
    first = feed(quiet, 0.0, 8)[-1].audio  # type: ignore[attr-defined]
    feed(loud, 0.9, 6)
    second = feed(quiet, 0.0, 8)[-1].audio  # type: ignore[attr-defined]
    assert len(second) > len(first) and np.array_equal(second[: len(first)], first)


def test_the_first_clause_may_be_cut_earlier() -> None:
    text = "Sure thing. The sky is blue on a clear day, because air scatters blue light."
    early = ClauseChunker(first_min_chars=10, first_weak_min_chars=30)
    assert early.aggregate(text + " ") == [
        "Sure thing.",
        "The sky is blue on a clear day, because air scatters blue light.",
    ]
    assert ClauseChunker().aggregate(text + " ")[0].startswith("Sure thing. The sky")


@pytest.mark.parametrize("whole", [True, False])
async def test_partial_transcripts_come_while_the_user_talks_and_the_rest_is_heard_at_the_end(
    whole: bool,
) -> None:
    h = Harness(ScriptedLLM([*words(FIRST), end()]), partial_whole=whole, **FAST)
    # A part is all of the utterance so far (whole), or only what followed the last pause.
    h.speech.heard = [
        "What is the weather",
        "What is the weather like in Paris?" if whole else "like in Paris?",
    ]
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))  # a pause: what was said so far is heard
    await h.wait_for("partial")
    assert h.sent[-1] == {"type": "partial", "text": "What is the weather"}
    assert "speech_ended" not in h.types()
    await h.say()  # the rest, then silence
    await h.wait_for("done")
    heard = [m for m in h.sent if m["type"] == "heard"]
    assert heard == [{"type": "heard", "text": "What is the weather like in Paris?", "cut": False}]
    assert h.speech.calls.count("stt") == 2  # the part, then what followed it
    timings = h.sent[-1]["timings"]
    assert timings["eos_turn_end_ms"] is not None and timings["eos_first_audio_sent_ms"] is not None
    await h.session.close()


async def test_a_speculative_answer_is_dropped_unsent_and_unsaved_when_speech_resumes(db: Database) -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words(FIRST + " "), hold, *words(SECOND), end()])
    h = Harness(llm, **FAST)
    await real_store(h, db)
    h.speech.heard = ["What is the weather", "What is the weather like in Paris?"]
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await h.wait_for("partial")
    await until(lambda: FIRST in h.speech.spoken, "the speculative first clause spoken into the queue")
    assert llm.requests[0].messages[-1] == {"role": "user", "content": "What is the weather"}
    assert not {"session", "transcript", "token", "audio"} & set(h.types())  # nothing sent
    assert await saved_messages(db) == 0  # nothing saved

    await h.session.audio(pcm(0.3, loud=True))  # the user goes on: the answer is moot
    await until(lambda: llm.closed, "the speculative LLM stream stopped")
    assert not {"session", "audio"} & set(h.types()) and await saved_messages(db) == 0
    hold.set()
    await h.session.audio(pcm(0.5, loud=False))
    await h.wait_for("done")
    assert len(llm.requests) == 2
    assert llm.requests[1].messages[-1] == {"role": "user", "content": "What is the weather like in Paris?"}
    assert h.sent[-1]["timings"]["speculation"] == "none"
    async with db.session() as s:
        rows = (await s.execute(select(Message.role, Message.content).order_by(Message.pk))).all()
    assert [tuple(r) for r in rows] == [
        ("user", "What is the weather like in Paris?"),
        ("assistant", f"{FIRST} {SECOND}"),
    ]
    await h.session.close()


async def test_a_speculative_answer_is_adopted_when_the_turn_ends_on_the_same_words(db: Database) -> None:
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm, **FAST)
    await real_store(h, db)
    h.speech.heard = ["What is the weather like in Paris"]  # not finished-looking: the long wait
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await until(lambda: len(h.speech.spoken) == 2, "the speculative answer spoken into the queue")
    assert "audio" not in h.types() and await saved_messages(db) == 0
    h.session.endpointer.end_windows = 1  # the wait is over (as if 2 s of silence went by)
    await h.session.audio(pcm(0.064, loud=False))
    await h.wait_for("done")
    types = h.types()
    assert len(llm.requests) == 1  # adopted, not asked again
    assert types.index("speech_ended") < types.index("session") < types.index("audio")
    assert h.sent[-1]["status"] == "complete" and h.sent[-1]["timings"]["speculation"] == "adopted"
    assert [m["text"] for m in h.sent if m["type"] == "audio"] == [FIRST, SECOND]
    assert await saved_messages(db) == 2
    await h.session.close()


async def test_a_finished_looking_transcript_ends_the_turn_after_the_short_wait() -> None:
    h = Harness(ScriptedLLM([*words(FIRST), end()]), **FAST)
    h.speech.heard = ["What is the weather like in Paris?"]
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await h.wait_for("partial")
    assert h.session.endpointer.end_windows == 10  # 320 ms: the short wait
    await h.session.audio(pcm(0.128, loud=False))
    await h.wait_for("done")
    assert h.speech.calls.count("stt") == 1  # nothing followed the pause: no tail to hear
    await h.session.close()


async def test_the_old_path_flag_turns_it_all_off() -> None:
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm, low_latency=False, pause_ms=200)
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))  # no part is heard at a pause
    await h.say()
    await h.wait_for("done")
    assert "partial" not in h.types() and h.speech.calls.count("stt") == 1
    assert [m["text"] for m in h.sent if m["type"] == "audio"] == [FIRST, SECOND]
    timings = h.sent[-1]["timings"]
    assert timings["speculation"] == "none" and timings["eos_stt_done_ms"] is not None
    await h.session.close()


async def test_a_part_that_cannot_be_heard_does_not_hold_the_turn_forever() -> None:
    h = Harness(ScriptedLLM([*words(FIRST), end()]), **FAST)
    h.speech.heard = ["What is the weather"]
    calls = 0
    transcribe = h.speech.transcribe

    async def failing_second(audio: object, *, language: str | None = None) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("recognizer crashed")
        return await transcribe(audio, language=language)

    h.speech.transcribe = failing_second  # type: ignore[method-assign]
    await h.session.start(MODEL, None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await h.wait_for("partial")
    await h.say()  # the rest, whose part fails
    await h.wait_for("done")
    errors = [m for m in h.sent if m["type"] == "error"]
    assert [e["code"] for e in errors] == ["stt_failed"]  # told, not silent
    assert [r.user for _, r in h.recorders if r.user] == [["What is the weather"]]  # what was heard is kept
    await h.session.close()


class Lookup:
    """A tool that acts (as a timer does): it must never run for words not yet committed."""

    spec = ToolSpec("lookup", "looks the weather up", {"type": "object", "properties": {}})

    def __init__(self) -> None:
        self.contexts: list[ToolContext] = []

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        self.contexts.append(context)
        return "sunny, 21 degrees"

    async def tools_for(self, context: ToolContext) -> list[Any]:
        return [self]


def with_tools(h: Harness, tool: Lookup) -> TurnOptions:
    h.pipeline.toolbox = Toolbox([tool])
    return TurnOptions(model="smollm2:135m", user_id="u-erin", timezone="Europe/Paris")


ASKS_FOR_LOOKUP = [Delta(tool_calls=(ToolCall("lookup", {}),)), end()]


async def test_a_speculative_answer_offers_the_tools_but_runs_none_until_adopted(db: Database) -> None:
    tool = Lookup()
    llm = ScriptedLLM([], rounds=[ASKS_FOR_LOOKUP, [*words(FIRST + " " + SECOND), end()]])
    h = Harness(llm, **FAST)
    await real_store(h, db)
    h.speech.heard = ["What is the weather like in Paris"]
    await h.session.start(with_tools(h, tool), None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await until(lambda: llm.finished, "the speculative first round asked for the tool")
    for _ in range(20):
        await asyncio.sleep(0.005)
    assert [t["function"]["name"] for t in llm.requests[0].tools] == ["lookup"]  # the same offer
    assert tool.contexts == [] and await saved_messages(db) == 0  # asked, not run, nothing saved

    h.session.endpointer.end_windows = 1  # the turn ends on these words: adopted
    await h.session.audio(pcm(0.064, loud=False))
    await h.wait_for("done")
    assert h.sent[-1]["timings"]["speculation"] == "adopted"
    session_id = next(m for m in h.sent if m["type"] == "session")["session_id"]
    assert [(c.user_id, c.session_id) for c in tool.contexts] == [("u-erin", session_id)]
    async with db.session() as s:
        answer = (await s.execute(select(Message).where(Message.role == "assistant"))).scalar_one()
    assert [c["name"] for c in answer.tool_calls or []] == ["lookup"]
    await h.session.close()


async def test_a_dropped_speculative_answer_never_runs_the_tool_it_asked_for(db: Database) -> None:
    tool = Lookup()
    llm = ScriptedLLM([], rounds=[ASKS_FOR_LOOKUP, [*words(FIRST + " " + SECOND), end()]])
    h = Harness(llm, **FAST)
    await real_store(h, db)
    h.speech.heard = ["What is the weather", "What is the weather like in Paris?"]
    await h.session.start(with_tools(h, tool), None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.audio(pcm(0.256, loud=False))
    await until(lambda: llm.finished, "the speculative first round asked for the tool")
    await h.session.audio(pcm(0.3, loud=True))  # the user goes on: dropped
    await h.session.audio(pcm(0.5, loud=False))
    await h.wait_for("done")
    assert h.sent[-1]["timings"]["speculation"] == "none"
    assert tool.contexts == []  # the committed answer (round 2's script) needed no tool
    await h.session.close()
