"""One voice turn as a stream of events.

decode (once) → VAD trim → STT → save the user's words → LLM token stream → clauses →
TTS per clause while the LLM keeps generating → audio out in clause order. Three tasks
joined by queues: `generate` reads the LLM stream, `chunk` turns tokens into clauses (and
says a filler when the first token is late), `speak` synthesizes clauses in order. The
consumer iterates `events()`; `cancel()` (barge-in) stops every stage at once and the
answer is saved as interrupted, cut to the clauses whose audio was handed out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from harvis.config import PipelineSettings
from harvis.llm.types import ChatRequest, Delta, LLMError, StreamEnd
from harvis.pipeline import events as ev
from harvis.pipeline.chunker import ClauseChunker
from harvis.pipeline.filler import speak_filler
from harvis.pipeline.ports import LLMPort, SpeechPort, TurnRecorder
from harvis.pipeline.wav import pcm16, wav_file

log = logging.getLogger(__name__)
_END = object()
_BUSY_POLL_S = 0.05
_BACKGROUND: set[asyncio.Task[None]] = set()  # saves still running after their consumer left


@dataclass(frozen=True)
class TurnOptions:
    model: str
    voice: Any = None  # whatever the speech service's synthesize() takes
    language: str | None = None
    keep_alive: str | None = None
    llm_options: dict[str, Any] = field(default_factory=dict)  # extra Ollama options (seed, temperature…)


class TurnFailed(Exception):
    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after = code, message, retry_after


class VoiceTurn:
    def __init__(self, *, speech: SpeechPort, llm: LLMPort, recorder: TurnRecorder,
                 settings: PipelineSettings, options: TurnOptions, max_audio_s: float = 120.0,
                 on_end: Callable[[VoiceTurn], None] | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.speech, self.llm, self.recorder = speech, llm, recorder
        self.settings, self.options, self.max_audio_s = settings, options, max_audio_s
        self._clock = clock
        self._on_end = on_end  # told once when the answer is saved (metrics)
        self.t0 = clock()
        self.timings: dict[str, float | None] = {}
        self.spoken: list[str] = []  # clause texts whose audio was handed to the consumer
        self.content, self.reasoning = "", ""
        self.status = "pending"  # pending → streaming → complete | interrupted | error
        self.message_id = ""
        self.end: StreamEnd | None = None
        self._error: TurnFailed | None = None
        self._cancelled = False
        self._synthesizing = False
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing: asyncio.Task[None] | None = None

    def _ms(self, since: float) -> float:
        return round((self._clock() - since) * 1000.0, 1)

    async def decode(self, data: bytes) -> Any:
        """Decode the upload once (blocking work in a thread); errors surface before streaming starts."""
        start = self._clock()
        audio = await asyncio.to_thread(self.speech.decode, data, max_seconds=self.max_audio_s)
        self.timings["decode_ms"] = self._ms(start)
        return audio

    def cancel(self) -> None:
        """Barge-in: stop generating and speaking now. Safe to call from any task, more than once."""
        if not self._cancelled and self.status in ("pending", "streaming"):
            self._cancelled = True
            for task in self._tasks:
                task.cancel()
            self._out.put_nowait(_END)

    async def mark_interrupted(self, heard: list[str]) -> None:
        """The user cut in after the answer was complete but while it still played: save the
        answer as interrupted, cut to the clauses that had started playing."""
        if self.status != "complete":
            return
        self.status, self.spoken = "interrupted", list(heard)
        await self.recorder.finish(
            content=" ".join(heard), reasoning=self.reasoning, status="interrupted", error=None,
            served_by=self.end.served_by if self.end else None,
            model=self.end.model if self.end else self.options.model, timings=dict(self.timings))

    async def events(self, audio: Any) -> AsyncIterator[ev.TurnEvent]:
        self.timings.setdefault("decode_ms", 0.0)
        try:
            try:
                text, language = await self._hear(audio)
            except TurnFailed as exc:
                yield ev.Error(exc.code, exc.message)
                return
            if self._cancelled:
                return
            try:
                started, messages = await self.recorder.begin(text, model=self.options.model)
            except Exception:
                log.exception("voice turn: could not save the user's words")
                yield ev.Error("storage_failed", "The conversation could not be saved; try again.")
                return
            self.message_id = started.assistant_message_id
            self.status = "streaming"
            yield started
            yield ev.Transcript(text, language)
            async for event in self._answer(messages):
                yield event
        finally:
            await self._close()

    async def _hear(self, audio: Any) -> tuple[str, str | None]:
        """VAD trim and STT; the transcript, or TurnFailed when nothing usable was heard."""
        try:
            start = self._clock()
            trimmed = await self.speech.vad_trim(audio)
            self.timings["vad_ms"] = self._ms(start)
            start = self._clock()
            heard = await self.speech.transcribe(trimmed, language=self.options.language)
            self.timings["stt_ms"] = self._ms(start)
        except Exception as exc:
            log.exception("voice turn: speech recognition failed")
            raise TurnFailed("stt_failed", f"Speech recognition failed: {exc}") from exc
        text = heard.text.strip()
        if not text:
            raise TurnFailed("no_speech", "No speech was heard in the audio.")
        return text, heard.language

    async def _answer(self, messages: list[dict[str, Any]]) -> AsyncIterator[ev.TurnEvent]:
        prompt = self.settings.system_prompt
        system = [{"role": "system", "content": prompt}] if prompt else []
        request = ChatRequest(model=self.options.model, messages=system + messages,
                              options={"num_predict": self.settings.max_answer_tokens,
                                       **self.options.llm_options},
                              keep_alive=self.options.keep_alive)
        deltas: asyncio.Queue[Any] = asyncio.Queue()
        clauses: asyncio.Queue[str | None] = asyncio.Queue()
        self._llm_start = self._clock()
        self._tasks = [asyncio.create_task(self._generate(request, deltas)),
                       asyncio.create_task(self._chunk(deltas, clauses)),
                       asyncio.create_task(self._speak(clauses))]
        while not self._cancelled:
            item = await self._out.get()
            if item is _END or self._cancelled:
                break
            if isinstance(item, ev.AudioOut):
                self.spoken.append(item.text)
            yield item
        self.status = "interrupted" if self._cancelled else "error" if self._error else "complete"
        await self._close()
        if self._error is not None and not self._cancelled:
            yield ev.Error(self._error.code, self._error.message, self.message_id,
                           self._error.retry_after)
            return
        end = self.end
        usage = {"prompt_tokens": end.prompt_tokens if end else 0,
                 "completion_tokens": end.completion_tokens if end else 0}
        yield ev.Done(self.message_id, self.status, end.served_by if end else "", end.model if end else "",
                      bool(end and end.fallback), dict(self.timings), usage)

    async def _generate(self, request: ChatRequest, deltas: asyncio.Queue[Any]) -> None:
        try:
            async for item in self.llm.stream_chat(request):
                deltas.put_nowait(item)
        except LLMError as exc:
            deltas.put_nowait(TurnFailed(exc.code, exc.message, exc.retry_after))
        except Exception as exc:  # an LLM layer bug must still end the turn with an error event
            log.exception("voice turn: LLM stream failed")
            deltas.put_nowait(TurnFailed("llm_error", f"The language model failed: {exc}"))
        deltas.put_nowait(_END)

    async def _chunk(self, deltas: asyncio.Queue[Any], clauses: asyncio.Queue[str | None]) -> None:
        s = self.settings
        chunker = ClauseChunker(min_chars=s.clause_min_chars, weak_min_chars=s.clause_weak_min_chars,
                                max_wait_s=s.clause_max_wait_s)
        filler_at: float | None = self._llm_start + s.filler_after_s if s.filler_after_s >= 0 else None
        while not self._cancelled:
            wait = chunker.seconds_until_due()
            if wait is not None and wait <= 0 and not self._speaker_idle(clauses):
                wait = _BUSY_POLL_S  # due, but the speaker has work: no need to cut a clause short
            if filler_at is not None:
                until_filler = max(0.0, filler_at - self._clock())
                wait = until_filler if wait is None else min(wait, until_filler)
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel (barge-in)
                # that lands just as an item arrives.
                async with asyncio.timeout(wait):
                    item = await deltas.get()
            except TimeoutError:
                if filler_at is not None and self._clock() >= filler_at:
                    filler_at = None
                    self._tasks.append(asyncio.create_task(self._filler()))
                if self._speaker_idle(clauses) and (clause := chunker.due()) is not None:
                    clauses.put_nowait(clause)
                continue
            if isinstance(item, Delta):
                self.timings.setdefault("llm_ttft_ms", self._ms(self._llm_start))
                if item.reasoning:
                    self.reasoning += item.reasoning
                    self._out.put_nowait(ev.Reasoning(item.reasoning))
                if item.content:
                    filler_at = None
                    self.content += item.content
                    self._out.put_nowait(ev.Token(item.content))
                    for clause in chunker.aggregate(item.content):
                        clauses.put_nowait(clause)
            elif isinstance(item, StreamEnd):
                self.end = item
                if item.fallback:
                    self._out.put_nowait(ev.Fallback(item.fallback_from or self.options.model,
                                                     item.model, item.served_by))
            elif isinstance(item, TurnFailed):
                self._error = item
            else:  # _END
                if self._error is None and (rest := chunker.flush()):
                    clauses.put_nowait(rest)
                clauses.put_nowait(None)
                return

    def _speaker_idle(self, clauses: asyncio.Queue[str | None]) -> bool:
        return clauses.empty() and not self._synthesizing

    async def _speak(self, clauses: asyncio.Queue[str | None]) -> None:
        index = 0
        try:
            while (clause := await clauses.get()) is not None:
                self._synthesizing = True
                parts, rate = [], 0
                async for chunk in self.speech.synthesize(clause, voice=self.options.voice):
                    parts.append(pcm16(chunk.pcm))
                    rate = chunk.sample_rate
                if parts:
                    # Stamped where the audio is made, like total_ms below, so the two compare.
                    self.timings.setdefault("first_audio_ms", self._ms(self.t0))
                    self._out.put_nowait(ev.AudioOut(index, rate, wav_file(parts, rate), clause))
                    index += 1
                self._synthesizing = False
        except Exception as exc:
            log.exception("voice turn: speech synthesis failed")
            self._error = self._error or TurnFailed("tts_failed", f"Speech synthesis failed: {exc}")
        self.timings["total_ms"] = self._ms(self.t0)
        self._out.put_nowait(_END)

    async def _filler(self) -> None:
        if self.spoken or self.content:
            return
        filler = await speak_filler(self.speech, self.settings.filler_text, self.options.voice)
        if filler is not None and not self.spoken and not self._cancelled:
            self._out.put_nowait(filler)

    async def _close(self) -> None:
        """Stop every stage and save the answer once, whatever ended the turn.

        The work runs in its own task: a consumer cancelled for good (a client that left, under
        anyio's level cancellation) cannot interrupt the save half-way.
        """
        if self._closing is None:
            self._closing = asyncio.create_task(self._stop_and_save())
            _BACKGROUND.add(self._closing)
            self._closing.add_done_callback(_BACKGROUND.discard)
        await asyncio.shield(self._closing)

    async def _stop_and_save(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.status == "pending":
            return  # nothing was saved, nothing to finish
        if self.status == "streaming":  # cancelled, or the consumer went away mid-answer
            self.status = "interrupted"
        self.timings.setdefault("total_ms", self._ms(self.t0))
        interrupted = self.status == "interrupted"
        try:
            await self.recorder.finish(
                content=" ".join(self.spoken) if interrupted else self.content, reasoning=self.reasoning,
                status=self.status, error=self._error.message if self._error and not interrupted else None,
                served_by=self.end.served_by if self.end else None,
                model=self.end.model if self.end else self.options.model, timings=dict(self.timings))
        except Exception:
            log.exception("voice turn: could not save the answer as %s", self.status)
        if self._on_end is not None:
            self._on_end(self)
