"""Stand-in engines for unit tests of the voice pipeline's stage logic.

They follow the real interfaces (harvis.pipeline.ports): an LLM that streams Delta items and
ends with StreamEnd or raises LLMError, a speech service that speaks one clause at a time,
a recorder that keeps what the store would. Gates (asyncio.Event) let a
test hold a stage at a chosen point instead of sleeping.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harvis.llm.types import ChatRequest, Delta, ModelInfo, StreamEnd
from harvis.pipeline.events import SessionStarted
from harvis.speech.tts import AudioChunk


@dataclass
class Heard:
    text: str
    language: str | None = "en"


class StandInSpeech:
    def __init__(self, transcript: str = "what is the weather like", *, fail_tts: bool = False) -> None:
        self.transcript = transcript
        self.fail_tts = fail_tts
        self.spoken: list[str] = []
        self.calls: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}  # hold synthesis of a text until set
        self.heard: list[str] = []  # transcripts to give, one per call, before `transcript`
        self.stt_gate: asyncio.Event | None = None  # hold recognition until set

    async def vad_trim(self, audio: Any) -> Any:
        self.calls.append("vad")
        return audio

    async def transcribe(self, audio: Any, *, language: str | None = None) -> Heard:
        self.calls.append("stt")
        if self.stt_gate is not None:
            await self.stt_gate.wait()
        return Heard(self.heard.pop(0) if self.heard else self.transcript)

    async def speak(self, clause: str, *, voice: Any = None) -> AudioChunk:
        if clause in self.gates:
            await self.gates[clause].wait()
        if self.fail_tts:
            raise RuntimeError("voice model exploded")
        self.spoken.append(clause)
        return AudioChunk(np.zeros(160 * max(1, len(clause)), dtype=np.float32), 16000, clause)

    async def ensure_tts(self) -> None:
        self.calls.append("ensure_tts")


@dataclass
class ScriptedLLM:
    """Streams `script`: Delta/StreamEnd items are sent, an Exception is raised, an Event is awaited.
    With `rounds`, call N streams rounds[N] instead (the last one again past the end): a tool
    loop's rounds."""

    script: list[Any]
    requests: list[ChatRequest] = field(default_factory=list)
    closed: bool = False
    finished: bool = False
    warmed: list[str] = field(default_factory=list)
    loaded: bool = True
    on_call: Any = None  # called with the request when stream_chat starts
    rounds: list[list[Any]] = field(default_factory=list)

    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[Delta | StreamEnd]:
        self.requests.append(request)
        if self.on_call:
            self.on_call(request)
        script = self.rounds[min(len(self.requests), len(self.rounds)) - 1] if self.rounds else self.script
        try:
            for item in script:
                if isinstance(item, asyncio.Event):
                    await item.wait()
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
            self.finished = True
        finally:
            self.closed = True

    async def warm(self, model: str, keep_alive: str) -> None:
        self.warmed.append(model)
        self.loaded = True

    async def list_models(self) -> list[ModelInfo]:
        return [
            ModelInfo(name="smollm2:135m", deployment="d", node="n", provider="ollama", loaded=self.loaded)
        ]


def end(model: str = "smollm2:135m", **kw: Any) -> StreamEnd:
    return StreamEnd(served_by=f"{model}@http://127.0.0.1:1", model=model, **kw)


def words(text: str) -> list[Delta]:
    """The text as token-like deltas (a word and its following space each)."""
    out, word = [], ""
    for ch in text:
        word += ch
        if ch == " ":
            out.append(Delta(content=word))
            word = ""
    if word:
        out.append(Delta(content=word))
    return out


class MemoryRecorder:
    def __init__(self) -> None:
        self.user: list[str] = []
        self.answers: list[dict[str, Any]] = []
        self.progress_saves: list[dict[str, Any]] = []

    async def begin(self, transcript: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        self.user.append(transcript)
        return SessionStarted("s1", "u1", "a1"), [{"role": "user", "content": transcript}]

    async def progress(self, **fields: Any) -> None:
        self.progress_saves.append(fields)

    async def finish(self, **fields: Any) -> None:
        self.answers.append(fields)


def wav_seconds(wav: bytes) -> float:
    """The length of a WAV file, read from its header."""
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / float(w.getframerate())
