"""Realtime session logic with stand-in engines and a loudness-based stand-in VAD:
end of turn, barge-in by speech and by cancel, warm-up while the user talks."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from harvis.config import LLMSettings, PipelineSettings, Settings
from harvis.pipeline.endpointing import WINDOW
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.realtime import RealtimeSession
from harvis.pipeline.turn import TurnOptions
from harvis.tools.builtin import BuiltinTools
from harvis.tools.toolbox import Toolbox
from tests.support.voice import MemoryRecorder, ScriptedLLM, StandInSpeech, end, words

FIRST = "The first clause of the answer is this one."
SECOND = "And here comes the second clause of it."


def loudness_vad(samples: np.ndarray) -> list[tuple[np.ndarray, float]]:
    n = len(samples) // WINDOW
    return [
        (w, 0.9 if float(np.abs(w).mean()) > 0.05 else 0.0)
        for w in (samples[i * WINDOW : (i + 1) * WINDOW] for i in range(n))
    ]


def pcm(seconds: float, loud: bool) -> bytes:
    n = int(seconds * 16000) // WINDOW * WINDOW
    samples = np.full(n, 0.3 if loud else 0.0, dtype=np.float32)
    return (samples * 32767).astype("<i2").tobytes()


class Harness:
    def __init__(
        self, llm: ScriptedLLM, clock: Any = None, toolbox: Toolbox | None = None, **settings: Any
    ) -> None:
        self.llm = llm
        self.speech = StandInSpeech()
        self.sent: list[dict[str, Any]] = []
        self.recorders: list[tuple[str | None, MemoryRecorder]] = []
        conf = PipelineSettings(
            **{"filler_after_s": -1, "speech_start_ms": 96, "end_of_turn_ms": 320, **settings}
        )
        kwargs = {"clock": clock} if clock else {}
        settings = Settings(pipeline=conf, llm=LLMSettings(voice_keep_alive="-1"))
        self.pipeline = Pipeline(llm=llm, speech=self.speech, settings=settings, toolbox=toolbox)
        self.session = RealtimeSession(
            pipeline=self.pipeline, send=self._send, vad=loudness_vad, recorder_for=self._recorder, **kwargs
        )

    async def _send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def _recorder(self, session_id: str | None) -> MemoryRecorder:
        recorder = MemoryRecorder()
        self.recorders.append((session_id, recorder))
        return recorder

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]

    async def wait_for(self, kind: str, count: int = 1) -> None:
        for _ in range(2000):  # bounded: each round yields to the turn's tasks
            if self.types().count(kind) >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"no {kind!r} event: {self.types()}")

    async def say(self, seconds: float = 0.5) -> None:
        await self.session.audio(pcm(seconds, loud=True))
        await self.session.audio(pcm(0.5, loud=False))


async def test_speech_then_silence_is_a_turn_answered_on_the_socket() -> None:
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm)
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.session.audio(pcm(0.3, loud=False))
    assert "speech_started" not in h.types()
    await h.say()
    await h.wait_for("done")
    types = h.types()
    assert types[:3] == ["listening", "speech_started", "speech_ended"]
    assert types.index("session") < types.index("transcript") < types.index("token") < types.index("audio")
    assert [m["text"] for m in h.sent if m["type"] == "audio"] == [FIRST, SECOND]
    assert h.sent[-1]["status"] == "complete"
    # The endpointer already cut the utterance: it is not run through VAD a second time.
    assert h.speech.calls.count("stt") == 1 and "vad" not in h.speech.calls
    # a second turn continues the same chat session
    await h.say()
    await h.wait_for("done", 2)
    assert [sid for sid, _ in h.recorders] == [None, "s1"]
    await h.session.close()


async def test_user_speech_during_the_answer_barges_in() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words(FIRST + " "), hold, *words(SECOND), end()])
    h = Harness(llm)
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("audio")
    await h.session.audio(pcm(0.2, loud=True))  # the user talks over the answer
    await h.wait_for("interrupted")
    done = [m for m in h.sent if m["type"] == "done"]
    assert done and done[0]["status"] == "interrupted"
    assert h.types().count("audio") == 1
    assert llm.closed and not llm.finished
    answer = h.recorders[0][1].answers
    assert len(answer) == 1 and answer[0]["status"] == "interrupted" and answer[0]["content"] == FIRST
    hold.set()
    await h.session.close()


async def test_a_cancel_message_stops_the_answer_at_once() -> None:
    hold = asyncio.Event()
    llm = ScriptedLLM([*words(FIRST + " "), hold, *words(SECOND), end()])
    h = Harness(llm)
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("audio")
    assert await h.session.interrupt() is True
    assert h.types()[-2:] == ["done", "interrupted"]
    assert h.recorders[0][1].answers[0]["status"] == "interrupted"
    assert await h.session.interrupt() is False  # nothing left to stop
    await h.session.close()


async def test_cutting_in_while_a_finished_answer_still_plays_cuts_the_saved_answer() -> None:
    now = [1000.0]
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm, clock=lambda: now[0])
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("done")
    recorder = h.recorders[0][1]
    assert recorder.answers[0]["status"] == "complete"
    now[0] += 0.1  # the first clause (about 0.4 s of audio) is playing, the second not yet
    await h.session.audio(pcm(0.2, loud=True))
    await h.wait_for("interrupted")
    assert recorder.answers[-1]["status"] == "interrupted" and recorder.answers[-1]["content"] == FIRST
    await h.session.close()


async def test_a_cold_model_is_warmed_while_the_user_still_talks() -> None:
    llm = ScriptedLLM([*words(FIRST), end()])
    llm.loaded = False
    h = Harness(llm)
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.session.audio(pcm(0.3, loud=True))  # still talking: no end of turn yet
    assert h.types()[-1] == "speech_started"
    for _ in range(1000):
        if llm.warmed:
            break
        await asyncio.sleep(0.005)
    assert llm.warmed == ["smollm2:135m"] and not llm.requests
    await h.session.close()


async def test_push_to_talk_release_ends_the_turn_without_waiting_for_silence() -> None:
    llm = ScriptedLLM([*words(FIRST), end()])
    h = Harness(llm, end_of_turn_ms=5000)
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.session.audio(pcm(0.5, loud=True))
    await h.session.stop()
    await h.wait_for("done")
    assert "speech_ended" in h.types()
    await h.session.close()


async def test_audio_before_start_is_refused() -> None:
    h = Harness(ScriptedLLM([]))
    await h.session.audio(pcm(0.1, loud=True))
    assert h.sent == [
        {
            "type": "error",
            "code": "not_started",
            "message": 'send {"type": "start"} before audio',
            "message_id": None,
        }
    ]


async def test_reading_goes_on_while_speech_is_recognized() -> None:
    """The socket's reader (session.audio, control messages) never waits for recognition."""
    llm = ScriptedLLM([*words(FIRST), end()])
    h = Harness(llm)
    h.speech.stt_gate = asyncio.Event()
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("speech_ended")
    for _ in range(1000):  # bounded: until recognition has begun (and is held)
        if "stt" in h.speech.calls:
            break
        await asyncio.sleep(0.005)
    assert h.speech.calls.count("stt") == 1
    # The user talks again while the first piece is still being heard: it must not wait for it.
    talking = asyncio.create_task(h.session.audio(pcm(0.3, loud=True)))
    for _ in range(1000):  # bounded: each round lets the session run
        if talking.done():
            break
        await asyncio.sleep(0.005)
    assert talking.done(), "reading the audio waited for speech recognition"
    assert await h.session.interrupt() is False  # a control message is handled meanwhile
    assert "transcript" not in h.types()
    await h.session.audio(pcm(0.5, loud=False))
    h.speech.stt_gate.set()
    await h.wait_for("done")
    await h.session.close()


async def test_a_cut_part_is_answered_while_the_user_talks_on_and_nothing_is_dropped() -> None:
    llm = ScriptedLLM([*words(FIRST), end()])
    h = Harness(llm, max_utterance_s=1.0)
    h.speech.heard = ["one two three", "four five"]
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.session.audio(pcm(1.3, loud=True))  # longer than the limit: cut, still talking
    await h.wait_for("done")  # the cut part is answered although the user goes on
    assert h.types().count("speech_started") == 1
    cut = next(m for m in h.sent if m["type"] == "speech_ended")
    assert cut.get("cut") is True
    await h.session.audio(pcm(0.3, loud=True))  # the continuation: no barge-in
    assert h.types().count("speech_started") == 1 and "interrupted" not in h.types()
    await h.session.audio(pcm(0.5, loud=False))
    await h.wait_for("done", 2)
    said = [r.user for _, r in h.recorders]
    assert said == [["one two three"], ["four five"]]
    assert [m["status"] for m in h.sent if m["type"] == "done"] == ["complete", "complete"]
    await h.session.close()


async def test_speech_resuming_during_recognition_joins_the_same_turn() -> None:
    llm = ScriptedLLM([*words(FIRST), end()])
    h = Harness(llm)
    h.speech.heard = ["what is the weather", "like in paris"]
    h.speech.stt_gate = asyncio.Event()
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()  # a pause ends the first piece; it is still being recognized when…
    await h.wait_for("speech_ended")
    async with asyncio.timeout(60):  # a guard: on the old code this waited for recognition
        await h.session.audio(pcm(0.3, loud=True))  # …the user goes on
    h.speech.stt_gate.set()
    await h.wait_for("heard")
    await h.session.audio(pcm(0.5, loud=False))
    await h.wait_for("done")
    assert [r.user for _, r in h.recorders] == [["what is the weather like in paris"]]
    assert len(llm.requests) == 1
    await h.session.close()


async def test_words_still_being_heard_when_the_socket_closes_are_saved() -> None:
    llm = ScriptedLLM([*words(FIRST), end()])
    h = Harness(llm)
    h.speech.heard = ["remember to buy milk"]
    h.speech.stt_gate = asyncio.Event()
    await h.session.start(TurnOptions(model="smollm2:135m"), None)
    await h.say()
    await h.wait_for("speech_ended")
    await h.session.close()  # the user hung up while their words were being recognized
    h.speech.stt_gate.set()
    for _ in range(1000):  # bounded: the save runs in the background
        if h.recorders and h.recorders[0][1].answers:
            break
        await asyncio.sleep(0.005)
    recorder = h.recorders[0][1]
    assert recorder.user == ["remember to buy milk"]
    assert recorder.answers[0]["status"] == "interrupted" and recorder.answers[0]["content"] == ""
    assert llm.requests == []  # nobody is listening: no answer is generated


async def test_tool_calls_go_out_on_the_socket_and_a_cancel_stops_a_running_one() -> None:
    from harvis.llm.types import Delta, ToolCall
    from tests.pipeline.test_tool_loop import Extra, GatedTool

    slow = GatedTool()
    time_call = Delta(tool_calls=(ToolCall("get_current_time", {}),))
    llm = ScriptedLLM(
        [],
        rounds=[
            [time_call, end()],
            [*words("It is noon."), end()],
            [Delta(tool_calls=(ToolCall("slow_lookup", {}),)), end()],
        ],
    )
    h = Harness(llm, toolbox=Toolbox([BuiltinTools(), Extra(slow)]))
    options = TurnOptions(model="smollm2:135m", user_id="u1", timezone="Asia/Tokyo")
    await h.session.start(options, None)
    await h.say()
    await h.wait_for("done")
    call = next(m for m in h.sent if m["type"] == "tool_call")
    result = next(m for m in h.sent if m["type"] == "tool_result")
    assert call == {"type": "tool_call", "round": 1, "index": 0, "name": "get_current_time", "arguments": {}}
    assert result["ok"] is True and "Asia/Tokyo" in result["result"]
    assert h.recorders[0][1].answers[-1]["tool_calls"][0]["name"] == "get_current_time"

    await h.say()  # the next turn's tool hangs until the user cancels
    await h.wait_for("tool_call", 2)
    await slow.started.wait()
    await h.session.interrupt()
    await h.wait_for("done", 2)
    done = [m for m in h.sent if m["type"] == "done"]
    assert slow.ended == ["cancelled"] and done[-1]["status"] == "interrupted"
    assert "tool_result" not in [m["type"] for m in h.sent[h.sent.index(done[0]) :]]
    await h.session.close()
