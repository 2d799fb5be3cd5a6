"""A realtime voice session (the WebSocket's logic, without the socket).

16 kHz PCM16 comes in; the endpointer finds where the user starts and stops talking. When
speech starts, a cold model is warmed while the user still talks, and any answer being
generated or played is stopped (barge-in). When the turn ends, its audio (already trimmed by
the endpointer: no second VAD pass) goes through a Turn whose events go back through `send`.
Turns in one session run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from harvis.pipeline import events as ev
from harvis.pipeline.endpointing import RATE, Endpointer, Moment
from harvis.pipeline.observe import BARGE_INS
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.ports import TurnRecorder
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
WindowProbs = Callable[[np.ndarray], list[tuple[np.ndarray, float]]]


class RealtimeSession:
    def __init__(
        self,
        *,
        pipeline: Pipeline,
        recorder_for: Callable[[str | None], TurnRecorder],
        send: Send,
        vad: WindowProbs,
        on_end: Callable[[Turn], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pipeline = pipeline
        self.recorder_for, self.send, self.vad = recorder_for, send, vad
        self._clock = clock
        self._on_end = on_end
        s = pipeline.settings
        self.endpointer = Endpointer(
            threshold=s.vad_threshold,
            start_ms=s.speech_start_ms,
            end_ms=s.end_of_turn_ms,
            max_s=s.max_utterance_s,
        )
        self.options: TurnOptions | None = None
        self.session_id: str | None = None
        self.turn: Turn | None = None
        self._task: asyncio.Task[None] | None = None
        self._playing_until = 0.0  # when the client will have played all audio sent (estimate)
        self._starts: list[tuple[float, float]] = []  # (estimated play start, seconds) per clause

    # ---- control messages
    async def start(self, options: TurnOptions, session_id: str | None) -> None:
        """Begin listening with these options; pressing talk during an answer interrupts it."""
        self.options = options
        if session_id is not None:
            self.session_id = session_id
        await self.interrupt()
        self.endpointer.reset()
        await self.send({"type": "listening"})

    async def stop(self) -> None:
        """Push-to-talk released: the turn ends now."""
        await self._moment(self.endpointer.end())

    async def interrupt(self, how: str = "cancel") -> bool:
        """Barge-in: stop the answer being generated, or the one still playing. True if one was."""
        turn, now = self.turn, self._clock()
        if turn is None:
            return False
        if turn.status in ("pending", "streaming"):
            turn.cancel()
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
        elif turn.status == "complete" and now < self._playing_until:
            # Without a playback report from the client: the clauses that had started playing.
            await turn.truncate(sum(seconds for start, seconds in self._starts if start <= now))
        else:
            return False
        self._playing_until = 0.0
        BARGE_INS.labels(how).inc()
        await self.send({"type": "interrupted", "message_id": turn.message_id or None})
        return True

    # ---- audio
    async def audio(self, pcm: bytes) -> None:
        if self.options is None:
            await self.send(ev.to_ws(ev.Error("not_started", 'send {"type": "start"} before audio')))
            return
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        for window, prob in await asyncio.to_thread(self.vad, samples):
            await self._moment(self.endpointer.push(window, prob))

    async def _moment(self, moment: Moment | None) -> None:
        if moment is None or self.options is None:
            return
        if moment.kind == "speech_started":
            await self.send({"type": "speech_started"})
            self.pipeline.warm(self.options.model)  # the load overlaps the user's speech
            await self.interrupt("speech")
            return
        await self.send({"type": "speech_ended"})
        assert moment.audio is not None
        if self._task is not None and not self._task.done() and self.turn is not None:
            self.turn.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = asyncio.create_task(self._run(Audio(moment.audio, RATE), self.options))

    async def _run(self, audio: Audio, options: TurnOptions) -> None:
        turn = self.pipeline.turn(self.recorder_for(self.session_id), options, on_end=self._on_end)
        self.turn, self._starts = turn, []
        try:
            async for event in turn.events(audio, trimmed=True):
                if isinstance(event, ev.SessionStarted):
                    self.session_id = event.session_id
                elif isinstance(event, ev.AudioOut | ev.Filler):
                    start = max(self._clock(), self._playing_until)
                    self._playing_until = start + event.duration_s
                    if isinstance(event, ev.AudioOut):
                        self._starts.append((start, event.duration_s))
                await self.send(ev.to_ws(event))
        except Exception:  # the socket went away mid-send: the turn's own cleanup saves the answer
            log.info("realtime turn ended early", exc_info=True)

    async def close(self) -> None:
        if self.turn is not None:
            self.turn.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
