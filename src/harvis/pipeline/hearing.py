"""Speech recognition for a live session: the pieces of what the user says, transcribed one
after another in a task of their own, so that whoever reads the socket never waits for it.

A piece is an utterance the endpointer handed out (a pause ended it, or the length limit cut
it while the user went on talking). What was heard goes to `on_heard` in the order spoken.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from harvis.errors import HarvisError
from harvis.pipeline.ports import SpeechPort
from harvis.speech.audio import Audio

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    audio: Audio
    cut: bool  # cut by the length limit: the user was still speaking
    ended_at: float  # time.perf_counter() when the endpointer handed it out
    segment: int = 0  # low-latency path: > 0 for speech up to a pause (its utterance's number)
    voice_at: float = 0.0  # time.perf_counter() when its last voiced audio arrived


@dataclass(frozen=True)
class Heard:
    text: str  # "" when the piece held no words
    language: str | None
    piece: Piece
    stt_ms: float
    heard_at: float = 0.0  # time.perf_counter() when the transcript was ready


OnHeard = Callable[[Heard], Awaitable[None]]
OnError = Callable[[HarvisError], Awaitable[None]]


class Recognizer:
    def __init__(
        self,
        speech: SpeechPort,
        *,
        on_heard: OnHeard,
        on_error: OnError,
        max_backlog_s: float,
    ) -> None:
        self.speech, self.on_heard, self.on_error = speech, on_heard, on_error
        self.max_backlog_s = max_backlog_s
        self.language: str | None = None
        self._waiting: deque[Piece] = deque()
        self._wake = asyncio.Event()
        self._current: Piece | None = None
        self._task: asyncio.Task[None] | None = None
        self._draining = False

    @property
    def busy(self) -> bool:
        """A piece is waiting or being transcribed (not counting one whose result is being handed out)."""
        return bool(self._waiting) or self._current is not None

    def backlog_s(self) -> float:
        return sum(p.audio.duration_s for p in self._waiting)

    def put(self, piece: Piece) -> bool:
        """Queue a piece; False (and nothing queued) when more audio than `max_backlog_s` already
        waits, which happens only to a client sending far faster than real time."""
        if self._waiting and self.backlog_s() + piece.audio.duration_s > self.max_backlog_s:
            return False
        self._waiting.append(piece)
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._work())
        return True

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                piece = self._current = self._waiting.popleft()
                try:
                    await self._hear(piece)
                except Exception:  # the socket went away mid-send: the next piece still counts
                    log.info("realtime: handing out a transcript failed", exc_info=True)
            if self._draining:
                return

    async def _hear(self, piece: Piece) -> None:
        start = time.perf_counter()
        try:
            heard = await self.speech.transcribe(piece.audio, language=self.language)
        except Exception as exc:
            log.exception("realtime: speech recognition failed")
            self._current = None
            await self.on_error(HarvisError(f"Speech recognition failed: {exc}", code="stt_failed"))
            if piece.segment:  # a part of an utterance: its turn must not wait for it forever
                await self.on_heard(Heard("", None, piece, 0.0, time.perf_counter()))
            return
        self._current = None
        stt_ms = round((time.perf_counter() - start) * 1000.0, 1)
        await self.on_heard(Heard(heard.text.strip(), heard.language, piece, stt_ms, time.perf_counter()))

    async def drain(self) -> None:
        """Hear what still waits, then stop (the session ended: its words are still saved)."""
        self._draining = True
        if self._task is not None:
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
