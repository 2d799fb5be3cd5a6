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
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from harvis.errors import HarvisError
from harvis.pipeline import events as ev
from harvis.pipeline.endpointing import RATE, WINDOW, Endpointer, Moment
from harvis.pipeline.hearing import Heard, Piece, Recognizer
from harvis.pipeline.live import Utterance, Utterances
from harvis.pipeline.observe import BARGE_INS
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.ports import TurnRecorder
from harvis.pipeline.speculation import HistoryPeek, Speculation
from harvis.pipeline.turn import Turn, TurnOptions
from harvis.pipeline.turn_detector import end_of_turn_ms
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
            pause_ms=s.pause_ms if s.low_latency else 0,
            cumulative=s.partial_whole,
        )
        self._end_windows = self.endpointer.end_windows  # the wait before any transcript is known
        self.live = (
            Utterances(cumulative=s.partial_whole) if s.low_latency else None
        )  # None: the path before low_latency
        self._spec: Speculation | None = None
        self._voice_at = 0.0  # perf_counter() when the last voiced audio arrived
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
        self._drop_speculation()
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
        arrived = time.perf_counter()
        for window, prob in await asyncio.to_thread(self.vad, samples):
            if prob >= self.endpointer.release:
                self._voice_at = arrived  # end of speech, as the server sees it (the trace)
            await self._moment(self.endpointer.push(window, prob))

    async def _moment(self, moment: Moment | None) -> None:
        if moment is None or self.options is None:
            return
        if moment.kind == "speech_started":
            await self.send({"type": "speech_started"})
            self.pipeline.warm(self.options.model)  # the load overlaps the user's speech
            await self.interrupt("speech")
            self.endpointer.end_windows = self._end_windows
            return
        if moment.kind == "resumed":  # the user goes on after a pause: its answer is moot
            self._drop_speculation()
            self.endpointer.end_windows = self._end_windows
            return
        assert moment.audio is not None
        now, live = time.perf_counter(), self.live
        if moment.kind == "paused":
            if live is not None:
                await self._put(live.current.part(Audio(moment.audio, RATE), now, self._voice_at))
            return
        await self.send({"type": "speech_ended", **({"cut": True} if moment.cut else {})})
        if live is not None and not moment.cut:
            utterance = live.end(self._voice_at, now)
            utterance.audio = Audio(moment.audio, RATE)
            if moment.tail is not None:  # only the speech after the last pause is left to hear
                await self._put(utterance.part(Audio(moment.tail, RATE), now, self._voice_at))
            await self._commit(utterance)
            return
        if live is not None:
            live.discard()  # a cut part is heard whole
            self._drop_speculation()
        await self._put(Piece(Audio(moment.audio, RATE), moment.cut, now, voice_at=self._voice_at))

    async def _put(self, piece: Piece) -> None:
        if not self.recognizer.put(piece):
            message = f"more than {MAX_BACKLOG_S:g} s of audio wait to be heard: send it in real time"
            await self.send(ev.to_ws(ev.Error("audio_backlog", message)))

    # ---- what was heard
    async def _heard(self, heard: Heard) -> None:
        if heard.piece.segment:
            await self._part_heard(heard)
            return
        if heard.text:
            self._unanswered.append(heard)  # first: a closed socket must not lose the words
            await self.send({"type": "heard", "text": heard.text, "cut": heard.piece.cut})
        elif not self._unanswered and not self.recognizer.busy and not self.endpointer.speaking:
            await self.send(ev.to_ws(ev.Error("no_speech", "No speech was heard in the audio.")))
        self._answer_when_due()

    # ---- the low-latency path: parts heard at pauses, the answer started during one
    async def _part_heard(self, heard: Heard) -> None:
        assert self.live is not None
        utterance = self.live.take(heard)
        if utterance is None:
            return  # its utterance was heard whole instead (cut, socket closed)
        if utterance.ended is not None:
            await self._commit(utterance)
            return
        text = utterance.text
        if not text:
            return
        await self.send({"type": "partial", "text": text})
        if utterance.pending or self.endpointer.silence_windows == 0:
            return  # more to hear, or the user talks again
        s = self.pipeline.settings
        wait = end_of_turn_ms(
            text, default_ms=s.end_of_turn_ms, short_ms=s.end_of_turn_short_ms, long_ms=s.end_of_turn_long_ms
        )
        self.endpointer.end_windows = max(1, round(wait * RATE / 1000 / WINDOW))
        if self.endpointer.silence_windows >= self.endpointer.end_windows:
            await self._moment(self.endpointer.end())  # already silent that long: the turn ends now
            return
        await self._speculate(utterance)

    async def _commit(self, utterance: Utterance) -> None:
        """The turn ended: once every part is heard, its words are answered."""
        if not utterance.ready or self.live is None:
            return
        self.live.finished(utterance)
        self.endpointer.end_windows = self._end_windows
        heard = utterance.transcript()
        if heard.text:
            self._unanswered.append(heard)
            await self.send({"type": "heard", "text": heard.text, "cut": False})
        else:
            self._drop_speculation()
            if not self._unanswered and not self.recognizer.busy and not self.endpointer.speaking:
                await self.send(ev.to_ws(ev.Error("no_speech", "No speech was heard in the audio.")))
        self._answer_when_due()

    async def _speculate(self, utterance: Utterance) -> None:
        """Start answering what was said so far while the pause lasts (nothing sent, nothing saved)."""
        text, options = utterance.text, self.options
        if not self.pipeline.settings.speculate or options is None or self._closed:
            return
        if self._task is not None and not self._task.done():
            return  # an answer still runs: this one would wait anyway
        if self._spec is not None and self._spec.text == text and self._spec.outcome == "running":
            return
        self._drop_speculation()
        recorder = self.recorder_for(self.session_id)
        if not isinstance(recorder, HistoryPeek):
            return
        try:
            history = await recorder.history(text)
        except Exception:
            log.warning("speculation: could not read the history", exc_info=True)
            return
        still = self.live is not None and self.live.current is utterance and utterance.text == text
        if still and self.endpointer.silence_windows > 0 and not self._closed:
            self._spec = Speculation(self.pipeline, options, text, history, self.session_id)

    def _drop_speculation(self) -> None:
        if self._spec is not None:
            self._spec.drop()
            self._spec = None

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
        spec, self._spec = self._spec, None
        if spec is not None and spec.text != text:
            spec.drop()
        adopt = spec.adopt if spec is not None and spec.text == text else None
        ended_at = heard[-1].piece.ended_at
        turn = self.pipeline.turn(recorder, options, on_end=self._on_end, started_at=ended_at, adopt=adopt)
        turn.timings["stt_ms"] = heard[-1].stt_ms
        self.turn, self._starts = turn, []
        sent_at: float | None = None
        try:
            async for event in turn.reply(text, language):
                if isinstance(event, ev.Done):
                    outcome = spec.outcome if spec is not None and spec.text == text else "none"
                    event.timings.update(trace(heard[-1], turn.marks, sent_at, outcome))
                    log.info("realtime turn trace: %s", json.dumps(event.timings))
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
                if isinstance(event, ev.AudioOut) and sent_at is None:
                    sent_at = time.perf_counter()
        except Exception:  # the socket went away mid-send: the turn's own cleanup saves the answer
            log.info("realtime turn ended early", exc_info=True)
        finally:
            if spec is not None:
                spec.drop()  # not adopted (the turn was cancelled first): nothing of it was sent

    async def close(self) -> None:
        """The socket closed: stop the answer; what the user said is still heard and saved (in
        the background, without an answer)."""
        self._closed = True
        self._drop_speculation()
        if self.live is not None:
            self.live.discard()  # speech still going on is heard whole below
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


def trace(heard: Heard, marks: dict[str, float], sent_at: float | None, speculation: str) -> dict[str, Any]:
    """The turn's stages in ms after the end of speech (the arrival of its last voiced audio);
    negative: before it."""
    eos = heard.piece.voice_at

    def since(t: float | None) -> float | None:
        return None if t is None or not eos else round((t - eos) * 1000.0, 1)

    return {
        "eos_turn_end_ms": since(heard.piece.ended_at),
        "eos_stt_done_ms": since(heard.heard_at or None),
        "eos_llm_first_token_ms": since(marks.get("llm_first_token")),
        "eos_first_clause_ms": since(marks.get("first_clause")),
        "eos_tts_first_audio_ms": since(marks.get("tts_first_audio")),
        "eos_first_audio_sent_ms": since(sent_at),
        "speculation": speculation,
    }
