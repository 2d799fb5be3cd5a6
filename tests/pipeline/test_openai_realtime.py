"""OpenAI Realtime session logic with stand-in engines (tests/support/voice.py) and a
loudness-based stand-in VAD: first audio before the answer ends, cancel and barge-in stopping
the LLM, truncate saving the answer as heard, server VAD, errors in OpenAI's shape, beta names."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import numpy as np

from harvis.config import LLMSettings, PipelineSettings, Settings
from harvis.errors import NotFound
from harvis.pipeline import openai_wire as wire
from harvis.pipeline.endpointing import WINDOW
from harvis.pipeline.heard import heard_text
from harvis.pipeline.openai_realtime import OpenAIRealtimeSession
from harvis.pipeline.pipeline import Pipeline
from harvis.speech.tts import VoiceRef
from tests.support.voice import MemoryRecorder, ScriptedLLM, StandInSpeech, end, words

FIRST = "The first clause of the answer is this one."
SECOND = "And here comes the second clause of it."


def loudness_vad() -> Callable[[np.ndarray], list[tuple[np.ndarray, float]]]:
    def windows(samples: np.ndarray) -> list[tuple[np.ndarray, float]]:
        n = len(samples) // WINDOW
        return [
            (w, 0.9 if float(np.abs(w).mean()) > 0.05 else 0.0)
            for w in (samples[i * WINDOW : (i + 1) * WINDOW] for i in range(n))
        ]

    return windows


def pcm24(seconds: float, loud: bool) -> str:
    samples = np.full(int(seconds * 24000), 0.3 if loud else 0.0, dtype=np.float32)
    return base64.b64encode((samples * 32767).astype("<i2").tobytes()).decode()


async def resolve(name: str) -> VoiceRef:
    if name == "nobody":
        raise NotFound("no voice 'nobody'", code="voice_not_found")
    return VoiceRef(id="joe", name="Joe", mode="builtin", engine="piper")


class Harness:
    def __init__(self, llm: ScriptedLLM, *, beta: bool = False, vad: bool = False) -> None:
        self.llm = llm
        self.speech = StandInSpeech()
        self.sent: list[dict[str, Any]] = []
        self._sent = asyncio.Condition()
        self.recorders: list[MemoryRecorder] = []
        conf = PipelineSettings(filler_after_s=-1, speech_start_ms=96, end_of_turn_ms=320)
        settings = Settings(pipeline=conf, llm=LLMSettings(voice_keep_alive="-1"))
        self.pipeline = Pipeline(llm=llm, speech=self.speech, settings=settings)
        config = wire.SessionConfig(
            model="smollm2:135m",
            instructions="Be brief.",
            turn_detection=wire.ServerVad(silence_duration_ms=320, prefix_padding_ms=96) if vad else None,
        )
        self.session = OpenAIRealtimeSession(
            pipeline=self.pipeline,
            recorder_for=self._recorder,
            send=self._send,
            vad=loudness_vad,
            resolve_voice=resolve,
            config=config,
            beta=beta,
        )

    async def _send(self, event: dict[str, Any]) -> None:
        self.sent.append(event)
        async with self._sent:
            self._sent.notify_all()

    def _recorder(self, session_id: str | None) -> MemoryRecorder:
        recorder = MemoryRecorder()
        self.recorders.append(recorder)
        return recorder

    def types(self) -> list[str]:
        return [e["type"] for e in self.sent]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.sent if e["type"] == kind]

    async def until(self, kind: str, count: int = 1) -> dict[str, Any]:
        async with asyncio.timeout(10), self._sent:
            await self._sent.wait_for(lambda: len(self.of(kind)) >= count)
        return self.of(kind)[count - 1]

    async def say_text(self, text: str = "hello") -> None:
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
        await self.session.handle({"type": "conversation.item.create", "item": item})


async def test_first_audio_comes_before_the_answer_ends() -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM(
        [*words(FIRST + " "), gate, *words(SECOND), end(prompt_tokens=12, completion_tokens=20)]
    )
    h = Harness(llm)
    await h.session.open()
    assert h.sent[0]["type"] == "session.created" and h.sent[0]["session"]["model"] == "smollm2:135m"
    await h.say_text("Tell me two things.")
    await h.session.handle({"type": "response.create"})
    await h.until("response.output_audio.delta")
    assert not llm.finished, "the first audio waited for the whole answer"
    gate.set()
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "completed" and done["usage"]["input_tokens"] == 12
    assert done["usage"]["output_tokens"] == 20 and done["usage"]["total_tokens"] == 32
    transcript = "".join(e["delta"] for e in h.of("response.output_audio_transcript.delta"))
    assert transcript == f"{FIRST} {SECOND}"
    assert done["output"][0]["content"][0] == {"type": "output_audio", "transcript": transcript}
    assert h.recorders[-1].user == ["Tell me two things."]
    assert h.recorders[-1].answers[-1]["content"] == f"{FIRST} {SECOND}"
    assert llm.requests[0].messages[0] == {"role": "system", "content": "Be brief."}
    order = h.types()
    assert order.index("response.created") < order.index("response.output_item.added")
    assert order.index("response.content_part.added") < order.index("response.output_audio.delta")
    assert order.index("response.output_audio.done") < order.index("response.done")
    audio = b"".join(base64.b64decode(e["delta"]) for e in h.of("response.output_audio.delta"))
    spoken_s = sum(len(c) * 160 / 16000 for c in (FIRST, SECOND))  # the stand-in's 10 ms a character
    assert abs(len(audio) / 2 / 24000 - spoken_s) < 0.01  # resampled to 24 kHz, nothing lost


async def test_cancel_stops_the_llm_and_keeps_what_was_spoken() -> None:
    llm = ScriptedLLM([*words(FIRST + " "), asyncio.Event(), *words(SECOND), end()])
    h = Harness(llm)
    await h.session.open()
    await h.say_text()
    await h.session.handle({"type": "response.create"})
    await h.until("response.output_audio.delta")
    await h.session.handle({"type": "response.cancel"})
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    assert llm.closed and not llm.finished
    saved = h.recorders[-1].answers[-1]
    assert saved["status"] == "interrupted" and saved["content"] == FIRST
    await h.session.handle({"type": "response.cancel"})
    assert h.sent[-1]["error"]["code"] == "response_cancel_not_active"


async def test_truncate_saves_the_answer_as_heard() -> None:
    llm = ScriptedLLM([*words(FIRST + " " + SECOND), end()])
    h = Harness(llm)
    await h.session.open()
    await h.say_text()
    await h.session.handle({"type": "response.create"})
    done = (await h.until("response.done"))["response"]
    item_id = done["output"][0]["id"]
    first_s = len(FIRST) * 160 / 16000
    cut_ms = int((first_s + 0.5 * len(SECOND) * 160 / 16000) * 1000)  # halfway through the second
    await h.session.handle(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": cut_ms}
    )
    truncated = await h.until("conversation.item.truncated")
    assert truncated["audio_end_ms"] == cut_ms and truncated["item_id"] == item_id
    saved = h.recorders[-1].answers[-1]
    expected = heard_text([(FIRST, first_s), (SECOND, len(SECOND) * 160 / 16000)], cut_ms / 1000)
    assert saved["status"] == "interrupted" and saved["content"] == expected
    assert FIRST in expected and expected != f"{FIRST} {SECOND}"
    await h.session.handle(
        {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 10**7}
    )
    assert h.sent[-1]["error"]["code"] == "invalid_value"


async def test_truncating_a_running_answer_stops_the_llm() -> None:
    llm = ScriptedLLM([*words(FIRST + " "), asyncio.Event(), *words(SECOND), end()])
    h = Harness(llm)
    await h.session.open()
    await h.say_text()
    await h.session.handle({"type": "response.create"})
    delta = await h.until("response.output_audio.delta")
    await h.session.handle(
        {
            "type": "conversation.item.truncate",
            "item_id": delta["item_id"],
            "content_index": 0,
            "audio_end_ms": 0,
        }
    )
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "cancelled" and llm.closed and not llm.finished
    assert h.recorders[-1].answers[-1]["content"] == ""  # nothing was heard


async def test_server_vad_ends_the_turn_answers_and_a_barge_in_stops_the_answer() -> None:
    gate = asyncio.Event()
    llm = ScriptedLLM([*words(FIRST + " "), gate, *words(SECOND), end()])
    llm.loaded = False  # a cold model: speech starting warms it while the user talks
    h = Harness(llm, vad=True)
    await h.session.open()
    await h.session.handle(
        {"type": "session.update", "session": {"audio": {"input": {"transcription": {"model": "whisper-1"}}}}}
    )
    for piece in (pcm24(0.6, True), pcm24(0.5, False)):
        await h.session.handle({"type": "input_audio_buffer.append", "audio": piece})
    started = await h.until("input_audio_buffer.speech_started")
    stopped = await h.until("input_audio_buffer.speech_stopped")
    committed = await h.until("input_audio_buffer.committed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"] <= 1100
    heard = await h.until("conversation.item.input_audio_transcription.completed")
    assert heard["transcript"] == h.speech.transcript and heard["item_id"] == committed["item_id"]
    await h.until("response.output_audio.delta")  # answered without a response.create
    assert h.speech.calls.count("vad") == 0  # the endpointer already trimmed: no second VAD pass
    await h.session.handle({"type": "input_audio_buffer.append", "audio": pcm24(0.3, True)})  # barge-in
    done = (await h.until("response.done"))["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
    assert llm.closed and not llm.finished and llm.warmed[0] == "smollm2:135m"


async def test_errors_come_in_openai_shape_and_the_session_goes_on() -> None:
    h = Harness(ScriptedLLM([*words("Fine."), end()]))
    await h.session.open()

    async def refused(event: dict[str, Any]) -> str:
        await h.session.handle({**event, "event_id": "evt_1"})
        error = h.sent[-1]
        assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error", error
        assert error["error"]["event_id"] == "evt_1" and error["error"]["message"]
        return str(error["error"]["code"])

    assert await refused({"type": "bogus.event"}) == "unknown_event"
    assert await refused({"type": "input_audio_buffer.commit"}) == "input_audio_buffer_commit_empty"
    assert await refused({"type": "input_audio_buffer.append", "audio": "not base64!"}) == "invalid_audio"
    fmt = {"audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    assert await refused({"type": "session.update", "session": fmt}) == "unsupported_format"
    assert (
        await refused({"type": "session.update", "session": {"input_audio_format": "g711_ulaw"}})
        == "unsupported_format"
    )
    semantic = {"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}
    assert await refused({"type": "session.update", "session": semantic}) == "unsupported"
    assert await refused({"type": "session.update", "session": {"voice": "nobody"}}) == "voice_not_found"
    assert await refused({"type": "response.create"}) == "no_user_input"
    truncate = {
        "type": "conversation.item.truncate",
        "item_id": "item_x",
        "content_index": 0,
        "audio_end_ms": 5,
    }
    await h.session.handle(truncate)
    assert h.sent[-1]["error"]["code"] == "item_not_found"
    assert (
        await refused({"type": "conversation.item.create", "item": {"type": "function_call"}})
        == "unsupported_item"
    )
    assert await refused({"type": "input_audio_buffer.append"}) == "invalid_event"  # no audio field
    await h.say_text("Still there?")
    await h.session.handle({"type": "response.create"})
    assert (await h.until("response.done"))["response"]["status"] == "completed"


async def test_beta_clients_get_the_beta_names_and_shapes() -> None:
    h = Harness(ScriptedLLM([*words("Hello there, friend."), end()]), beta=True)
    await h.session.open()
    await h.session.handle(
        {"type": "session.update", "session": {"modalities": ["text"], "turn_detection": None}}
    )
    updated = h.of("session.updated")[-1]["session"]
    assert updated["modalities"] == ["text"] and updated["turn_detection"] is None
    assert updated["input_audio_format"] == "pcm16"
    await h.say_text()
    await h.session.handle({"type": "response.create"})
    await h.until("response.done")
    assert "".join(e["delta"] for e in h.of("response.text.delta")) == "Hello there, friend."
    assert h.of("conversation.item.created") and not h.of("conversation.item.added")
    assert not h.of("conversation.item.done") and not h.of("response.output_audio.delta")
    assert not h.of("response.audio.delta")  # text only: no speech was made
    assert h.speech.spoken == []
