"""A realtime voice session (the WebSocket's logic, without the socket).

16 kHz PCM16 comes in; the endpointer finds where the user starts and stops talking. When
speech starts, a cold model is warmed while the user still talks, and any answer being
generated or played is stopped (barge-in). Each utterance the endpointer hands out is
transcribed in the background (hearing.Recognizer), so the socket is read all the while. What
was heard is answered once the user has stopped (pieces heard meanwhile join into one
turn), or at once when the length limit cut it (the user may talk on for minutes: each cut
part gets its answer, and the continuation is no barge-in). Turns run one at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from harvis.errors import HarvisError
from harvis.pipeline import events as ev
from harvis.pipeline.endpointing import RATE, Endpointer, Moment
from harvis.pipeline.hearing import Heard, Piece, Recognizer
from harvis.pipeline.observe import BARGE_INS
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.ports import TurnRecorder
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.speech.audio import Audio

log = logging.getLogger(__name__)
Send = Callable[[dict[str, Any]], Awaitable[None]]
WindowProbs = Callable[[np.ndarray], list[tuple[np.ndarray, float]]]
_SAVING: set[asyncio.Task[None]] = set()  # words still being heard and saved after a close
RECENT_TURNS = 4  # answers a late playback report can still cut
MAX_BACKLOG_S = 300.0  # audio waiting for recognition; more arrives only from a flood


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
        self.recognizer = Recognizer(
            pipeline.speech, on_heard=self._heard, on_error=self._error, max_backlog_s=MAX_BACKLOG_S
        )
        self.options: TurnOptions | None = None
        self.session_id: str | None = None
        self.turn: Turn | None = None
        self._task: asyncio.Task[None] | None = None
        self._recent: dict[str, Turn] = {}  # answers a playback report may still cut, by message id
        self._unanswered: list[Heard] = []  # heard, not yet answered (in the order spoken)
        self._closed = False
        self._playing_until = 0.0  # when the client will have played all audio sent (estimate)
        self._starts: list[tuple[float, float]] = []  # (estimated play start, seconds) per clause

    # ---- control messages
    async def start(self, options: TurnOptions, session_id: str | None) -> None:
        """Begin listening with these options; pressing talk during an answer interrupts it."""
        self.options = options
        self.recognizer.language = options.language
        if session_id is not None:
            self.session_id = session_id
        await self.interrupt()
        self.endpointer.reset()
        await self.send({"type": "listening"})
        self._answer_when_due()

    async def stop(self) -> None:
        """Push-to-talk released: the turn ends now."""
        await self._moment(self.endpointer.end())
        self._answer_when_due()

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

    async def played(self, message_id: str, index: int, offset_s: float) -> str | None:
        """The client's playback report (on barge-in): clause `index` of that answer had played
        `offset_s` seconds when it stopped. The saved answer is cut to what was heard and
        marked interrupted; the next turn's context holds only that. Returns the text kept
        (None: no such answer in this session)."""
        turn = self._recent.get(message_id)
        if turn is None:
            return None
        before = sum(seconds for _, seconds in turn.audio_out[: max(0, index)])
        current = turn.audio_out[index][1] if 0 <= index < len(turn.audio_out) else 0.0
        heard = await turn.truncate(before + min(max(0.0, offset_s), current))
        if self.turn is turn:
            self._playing_until = 0.0  # it was heard this far: the estimate has nothing to add
        await self.send({"type": "truncated", "message_id": message_id, "text": heard})
        return heard

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
        await self.send({"type": "speech_ended", **({"cut": True} if moment.cut else {})})
        assert moment.audio is not None
        piece = Piece(Audio(moment.audio, RATE), moment.cut, time.perf_counter())
        if not self.recognizer.put(piece):
            message = f"more than {MAX_BACKLOG_S:g} s of audio wait to be heard: send it in real time"
            await self.send(ev.to_ws(ev.Error("audio_backlog", message)))

    # ---- what was heard
    async def _heard(self, heard: Heard) -> None:
        if heard.text:
            self._unanswered.append(heard)  # first: a closed socket must not lose the words
            await self.send({"type": "heard", "text": heard.text, "cut": heard.piece.cut})
        elif not self._unanswered and not self.recognizer.busy and not self.endpointer.speaking:
            await self.send(ev.to_ws(ev.Error("no_speech", "No speech was heard in the audio.")))
        self._answer_when_due()

    async def _error(self, error: HarvisError) -> None:
        await self.send(ev.to_ws(ev.Error(error.code, error.message)))
        self._answer_when_due()

    def _answer_when_due(self) -> None:
        """Answer what was heard once the user has stopped, or at once for a part the length
        limit cut; never while another turn runs."""
        if self._closed or not self._unanswered or self.options is None:
            return
        if self._task is not None and not self._task.done():
            return
        cut = any(h.piece.cut for h in self._unanswered)
        if not cut and (self.endpointer.speaking or self.recognizer.busy):
            return  # the user goes on: what they said joins what they say next
        heard, self._unanswered = self._unanswered, []
        self._task = asyncio.create_task(self._run(heard, self.options))
        self._task.add_done_callback(lambda _: self._answer_when_due())

    async def _run(self, heard: list[Heard], options: TurnOptions) -> None:
        text = " ".join(h.text for h in heard)
        language = next((h.language for h in reversed(heard) if h.language), None)
        recorder = self.recorder_for(self.session_id)
        turn = self.pipeline.turn(recorder, options, on_end=self._on_end, started_at=heard[-1].piece.ended_at)
        turn.timings["stt_ms"] = heard[-1].stt_ms
        self.turn, self._starts = turn, []
        try:
            async for event in turn.reply(text, language):
                if isinstance(event, ev.SessionStarted):
                    self.session_id = event.session_id
                    self._recent[event.assistant_message_id] = turn
                    while len(self._recent) > RECENT_TURNS:
                        del self._recent[next(iter(self._recent))]
                elif isinstance(event, ev.AudioOut | ev.Filler):
                    start = max(self._clock(), self._playing_until)
                    self._playing_until = start + event.duration_s
                    if isinstance(event, ev.AudioOut):
                        self._starts.append((start, event.duration_s))
                await self.send(ev.to_ws(event))
        except Exception:  # the socket went away mid-send: the turn's own cleanup saves the answer
            log.info("realtime turn ended early", exc_info=True)

    async def close(self) -> None:
        """The socket closed: stop the answer; what the user said is still heard and saved (in
        the background, without an answer)."""
        self._closed = True
        if self.turn is not None:
            self.turn.cancel()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        moment = self.endpointer.end()  # speech still going on when the socket closed
        if moment is not None and moment.audio is not None:
            self.recognizer.put(Piece(Audio(moment.audio, RATE), False, time.perf_counter()))
        task = asyncio.create_task(self._save_unanswered())
        _SAVING.add(task)
        task.add_done_callback(_SAVING.discard)

    async def _save_unanswered(self) -> None:
        try:
            await self.recognizer.drain()
            if self._unanswered and self.options is not None:
                heard, self._unanswered = self._unanswered, []
                turn = self.pipeline.turn(self.recorder_for(self.session_id), self.options)
                turn.cancel()  # saved, not answered: nobody is listening
                async for _ in turn.reply(" ".join(h.text for h in heard)):
                    pass
        except Exception:
            log.exception("realtime: saving what was said before the socket closed failed")
        finally:
            await self.recognizer.close()
