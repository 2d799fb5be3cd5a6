"""The input audio buffer of an OpenAI Realtime session.

24 kHz PCM16 arrives in `input_audio_buffer.append` pieces and is resampled (one resampler for
the stream) to the 16 kHz Harvis hears at. With server VAD the realtime socket's Silero stream
and endpointer, used as they are, find where speech starts (barge-in) and where the turn ends
(the buffer is committed by itself, already trimmed); without it the client commits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from harvis.errors import BadInput, TooLarge
from harvis.pipeline.endpointing import RATE, WINDOW, Endpointer
from harvis.pipeline.openai_wire import RATE as WIRE_RATE
from harvis.pipeline.openai_wire import ServerVad
from harvis.speech.stream_audio import StreamResampler, pcm_to_float

WindowProbs = Callable[[np.ndarray], list[tuple[np.ndarray, float]]]
MIN_COMMIT_MS = 100  # OpenAI's own minimum for a committed buffer


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class Committed:
    """A user turn's audio (16 kHz float32) and whether silence was already cut from it."""

    audio: np.ndarray
    trimmed: bool
    audio_end_ms: int


Moment = SpeechStarted | Committed


class InputBuffer:
    def __init__(self, *, vad: Callable[[], WindowProbs], max_s: float, start_ms: int) -> None:
        self._make_vad = vad
        self._vad: WindowProbs | None = None
        self.max_s, self.start_ms = max_s, start_ms
        self._resampler = StreamResampler(WIRE_RATE, RATE)
        self._pending: list[np.ndarray] = []  # without VAD: everything since the last commit
        self._pending_n = 0
        self._heard_n = 0  # 16 kHz samples heard in all (audio_start_ms / audio_end_ms)
        self.endpointer: Endpointer | None = None
        self._lead_ms = 0

    def configure(self, vad: ServerVad | None) -> None:
        self.endpointer = (
            Endpointer(
                threshold=vad.threshold,
                start_ms=self.start_ms,
                end_ms=vad.silence_duration_ms,
                max_s=self.max_s,
                preroll_ms=max(WINDOW * 1000 // RATE, vad.prefix_padding_ms),
            )
            if vad is not None
            else None
        )
        self._lead_ms = (vad.prefix_padding_ms + self.start_ms) if vad is not None else 0
        self.clear()

    @property
    def _ms(self) -> int:
        return self._heard_n * 1000 // RATE

    async def append(self, pcm: bytes) -> list[Moment]:
        samples = self._resampler.push(pcm_to_float(pcm, width=2, channels=1))
        if self.endpointer is None:
            if (self._pending_n + len(samples)) / RATE > self.max_s:
                self.clear()
                raise TooLarge(f"the input audio buffer holds more than {self.max_s:g} s: it was cleared")
            self._pending.append(samples)
            self._pending_n += len(samples)
            self._heard_n += len(samples)
            return []
        if self._vad is None:
            self._vad = await asyncio.to_thread(self._make_vad)
        moments: list[Moment] = []
        for window, prob in await asyncio.to_thread(self._vad, samples):
            self._heard_n += len(window)
            moment = self.endpointer.push(window, prob)
            if moment is None:
                continue
            if moment.kind == "speech_started":
                # The utterance begins with the prefix padding and the speech that started it.
                moments.append(SpeechStarted(max(0, self._ms - self._lead_ms)))
            elif moment.audio is not None:
                moments.append(Committed(moment.audio, trimmed=True, audio_end_ms=self._ms))
        return moments

    def commit(self) -> Committed:
        """The client's commit: the speech in progress (VAD), or all audio since the last one."""
        if self.endpointer is not None:
            moment = self.endpointer.end()
            if moment is None or moment.audio is None:
                raise BadInput(
                    "the input audio buffer holds no speech", code="input_audio_buffer_commit_empty"
                )
            return Committed(moment.audio, trimmed=True, audio_end_ms=self._ms)
        audio = np.concatenate(self._pending) if self._pending else np.zeros(0, np.float32)
        if len(audio) * 1000 // RATE < MIN_COMMIT_MS:
            raise BadInput(
                f"the input audio buffer holds less than {MIN_COMMIT_MS} ms of audio",
                code="input_audio_buffer_commit_empty",
            )
        self._pending, self._pending_n = [], 0
        return Committed(audio, trimmed=False, audio_end_ms=self._ms)

    def clear(self) -> None:
        self._pending, self._pending_n = [], 0
        if self.endpointer is not None:
            self.endpointer.reset()

    @property
    def speaking(self) -> bool:
        return self.endpointer is not None and self.endpointer.speaking
