"""One turn: the user's words in, the answer out as one stream of events.

A voice turn: VAD trim → STT → save the user's words → LLM token stream → clauses → TTS per
clause while the LLM keeps generating → audio out in clause order (the stages: answer.py).
A text chat is the same turn without the speech stages. The consumer iterates `answer()` (or
`events()` for audio); `cancel()` (barge-in, a client that left) stops every stage at once,
and the answer is saved as the user got it: a text answer as far as it streamed ("stopped"),
a spoken one cut to the clauses whose audio was handed out ("interrupted").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from harvis.config import PipelineSettings, ToolSettings
from harvis.errors import BadInput, HarvisError
from harvis.llm.types import ChatRequest, StreamEnd
from harvis.pipeline import events as ev
from harvis.pipeline.answer import AnswerStages
from harvis.pipeline.filler import FillerCache
from harvis.pipeline.frames import EndOfStream
from harvis.pipeline.heard import heard_text
from harvis.pipeline.ports import LLMPort, SpeechPort, TurnRecorder
from harvis.speech.audio import Audio
from harvis.speech.tts import VoiceRef
from harvis.tools.base import ToolContext
from harvis.tools.toolbox import Toolbox

log = logging.getLogger(__name__)
_BACKGROUND: set[asyncio.Task[None]] = set()  # saves still running after their consumer left


@dataclass(frozen=True)
class TurnOptions:
    model: str
    speak: bool = True  # False: a text chat (no speech stages)
    voice: VoiceRef | None = None  # None: the engine's built-in voice
    language: str | None = None
    keep_alive: str | None = None
    system_prompt: str = ""
    llm_options: dict[str, Any] = field(default_factory=dict)  # Ollama options (num_predict, seed…)
    # Tools act for one user: without a user (the protocol adapters) a turn has none.
    tools: bool = True
    user_id: str | None = None
    timezone: str | None = None  # the user's IANA zone, for the tools (e.g. the current time)


def request_for(options: TurnOptions, history: list[dict[str, Any]]) -> ChatRequest:
    """The LLM request of a turn with these options over this history (a speculative answer
    builds it too: the same request is what lets the turn adopt it)."""
    system = [{"role": "system", "content": options.system_prompt}] if options.system_prompt else []
    return ChatRequest(
        model=options.model,
        messages=system + history,
        options=dict(options.llm_options),
        keep_alive=options.keep_alive,
    )


class Turn:
    def __init__(
        self,
        *,
        llm: LLMPort,
        recorder: TurnRecorder,
        settings: PipelineSettings,
        options: TurnOptions,
        speech: SpeechPort | None = None,
        fillers: FillerCache | None = None,
        on_end: Callable[[Turn], None] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        started_at: float | None = None,
        timings: dict[str, float | None] | None = None,
        toolbox: Toolbox | None = None,
        tool_settings: ToolSettings | None = None,
        adopt: Callable[[ChatRequest], AnswerStages | None] | None = None,
    ) -> None:
        if options.speak and speech is None:
            raise ValueError("a spoken turn needs a speech service")
        self.llm, self.recorder, self.speech, self.fillers = llm, recorder, speech, fillers
        self.settings, self.options = settings, options
        self._clock = clock
        self._on_end = on_end  # told once when the answer is saved (metrics)
        self.t0 = clock() if started_at is None else started_at
        self.timings: dict[str, float | None] = dict(timings or {})  # e.g. decode_ms, from the API edge
        self.spoken: list[str] = []  # clause texts whose audio was handed to the consumer
        self.audio_out: list[tuple[str, float]] = []  # the same clauses with their seconds of audio
        self._heard: str | None = None  # what the listener heard, when they said (truncate)
        self.status = "pending"  # pending → streaming → complete | stopped/interrupted | error
        self.message_id = ""
        self._history: list[dict[str, Any]] = []
        self._cancelled = False
        self._stages = AnswerStages(
            llm=llm,
            speech=speech if options.speak else None,
            fillers=fillers,
            settings=settings,
            voice=options.voice,
            fallback_from=options.model,
            timings=self.timings,
            t0=self.t0,
            clock=clock,
            toolbox=toolbox if options.tools and options.user_id else None,
            tool_settings=tool_settings,
        )
        self._closing: asyncio.Task[None] | None = None
        self._adopt = adopt  # an answer already started on these words (realtime speculation)

    @property
    def content(self) -> str:
        return self._stages.content

    @property
    def reasoning(self) -> str:
        return self._stages.reasoning

    @property
    def end(self) -> StreamEnd | None:
        return self._stages.end

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        """Every tool call of the answer and what came of it (ToolOutcome.as_json)."""
        tools = self._stages.tools
        return [o.as_json() for o in tools.use.outcomes] if tools is not None else []

    @property
    def marks(self) -> dict[str, float]:
        """clock() of the answer's first token, first clause and first audio (the trace)."""
        return self._stages.marks

    @property
    def stopped_status(self) -> str:
        return "interrupted" if self.options.speak else "stopped"

    def _ms(self, since: float) -> float:
        return round((self._clock() - since) * 1000.0, 1)

    # ---- control
    def cancel(self) -> None:
        """Stop generating (and speaking) now. Safe to call from any task, more than once."""
        if not self._cancelled and self.status in ("pending", "streaming"):
            self._cancelled = True
            self._stages.cancel()

    async def truncate(self, played_s: float) -> str:
        """The listener stopped hearing the answer `played_s` seconds into its audio (barge-in,
        a client's playback report): stop it if it still runs, and save it cut there, marked
        interrupted. Returns the text kept."""
        heard = heard_text(self.audio_out, played_s)
        if self.status in ("pending", "streaming"):
            self._heard = heard
            self.cancel()
            await self._close()
        elif self.status in ("complete", "interrupted"):
            await self._close()  # the end-of-answer save first: it must not land after this one
            self.status, self._heard = "interrupted", heard
            await self._save()
        return heard

    # ---- the user's words
    async def hear(self, audio: Audio, *, trimmed: bool = False) -> tuple[str, str | None]:
        """VAD trim (unless the caller already trimmed) and STT: the transcript and its language.
        Raises HarvisError (no_speech, stt_failed) when nothing usable was heard."""
        assert self.speech is not None
        try:
            if not trimmed:
                start = self._clock()
                audio = await self.speech.vad_trim(audio)
                self.timings["vad_ms"] = self._ms(start)
            start = self._clock()
            heard = await self.speech.transcribe(audio, language=self.options.language)
            self.timings["stt_ms"] = self._ms(start)
        except Exception as exc:
            log.exception("turn: speech recognition failed")
            raise HarvisError(f"Speech recognition failed: {exc}", code="stt_failed") from exc
        text = heard.text.strip()
        if not text:
            raise BadInput("No speech was heard in the audio.", code="no_speech")
        return text, heard.language

    async def begin(self, text: str) -> ev.SessionStarted:
        """Save the user's words before the LLM is called; the store's errors propagate."""
        started, self._history = await self.recorder.begin(text, model=self.options.model)
        self.message_id = started.assistant_message_id
        if self.options.user_id:
            self._stages.tool_context = ToolContext(
                user_id=self.options.user_id, session_id=started.session_id, timezone=self.options.timezone
            )
        self.status = "streaming"
        return started

    async def events(self, audio: Audio, *, trimmed: bool = False) -> AsyncIterator[ev.TurnEvent]:
        """A whole voice turn from audio: every failure is an event, never an exception."""
        self.timings.setdefault("decode_ms", 0.0)
        try:
            try:
                text, language = await self.hear(audio, trimmed=trimmed)
            except HarvisError as exc:
                yield ev.Error(exc.code, exc.message)
                return
            if self._cancelled:
                return
            async for event in self.reply(text, language):
                yield event
        finally:
            await self._close()

    async def reply(self, text: str, language: str | None = None) -> AsyncIterator[ev.TurnEvent]:
        """A turn from words already heard (the realtime session transcribes while the user
        talks): they are saved even when the turn was cancelled meanwhile, then answered."""
        try:
            try:
                started = await self.begin(text)
            except Exception:
                log.exception("turn: could not save the user's words")
                yield ev.Error("storage_failed", "The conversation could not be saved; try again.")
                return
            async for event in self.answer(started, ev.Transcript(text, language)):
                yield event
        finally:
            await self._close()

    # ---- the answer
    async def answer(self, *first: ev.TurnEvent) -> AsyncIterator[ev.TurnEvent]:
        """After begin(): `first`, then the answer's events, ending with done or error."""
        try:
            for event in first:
                yield event
            async for event in self._stream():
                yield event
        finally:
            await self._close()

    async def _stream(self) -> AsyncIterator[ev.TurnEvent]:
        request = request_for(self.options, self._history)
        stages = self._stages
        adopted = self._adopt(request) if self._adopt is not None and not self._cancelled else None
        if adopted is not None:  # started before the words were saved, on the same request
            adopted.commit_tools(self._stages.tool_context)
            self.timings.update(adopted.timings)
            adopted.timings, adopted.t0 = self.timings, self.t0
            stages = self._stages = adopted
        elif not self._cancelled:  # cancelled while the words were saved: no answer to start
            stages.start(request)
        saved_at = self._clock()
        while not self._cancelled:
            item = await stages.out.get()
            if isinstance(item, EndOfStream) or self._cancelled:
                break
            if isinstance(item, ev.AudioOut):
                self.spoken.append(item.text)
                self.audio_out.append((item.text, item.duration_s))
            yield item
            if self._clock() - saved_at >= self.settings.progress_every_s:
                saved_at = self._clock()
                await self.recorder.progress(content=self.content, reasoning=self.reasoning)
        self.status = self.stopped_status if self._cancelled else "error" if stages.error else "complete"
        await self._close()
        if stages.error is not None and not self._cancelled:
            e = stages.error
            yield ev.Error(e.code, e.message, self.message_id, e.retry_after)
            return
        end = stages.end
        usage = {
            "prompt_tokens": end.prompt_tokens if end else 0,
            "completion_tokens": end.completion_tokens if end else 0,
        }
        served_by, model = (end.served_by, end.model) if end else (None, self.options.model)
        yield ev.Done(
            self.message_id,
            self.status,
            served_by,
            model,
            bool(end and end.fallback),
            dict(self.timings),
            usage,
        )

    # ---- the end
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
        await self._stages.stop()
        if self.status == "pending":
            return  # nothing was saved, nothing to finish
        if self.status == "streaming":  # cancelled, or the consumer went away mid-answer
            self.status = self.stopped_status
        self.timings.setdefault("total_ms", self._ms(self.t0))
        await self._save()
        if self._on_end is not None:
            self._on_end(self)

    async def _save(self) -> None:
        """The answer as the user got it: all of a text; of speech, what was handed out (or
        what the listener reported hearing)."""
        if self.status == "interrupted":
            content = self._heard if self._heard is not None else " ".join(self.spoken)
        else:
            content = self.content
        error = self._stages.error
        try:
            await self.recorder.finish(
                content=content,
                reasoning=self.reasoning,
                status=self.status,
                error=error.message if error and self.status == "error" else None,
                served_by=self.end.served_by if self.end else None,
                model=self.end.model if self.end else self.options.model,
                timings=dict(self.timings),
                tool_calls=self.tool_calls,
            )
        except Exception:
            log.exception("turn: could not save the answer as %s", self.status)
