"""The answer's stages: generate → chunk → speak, three tasks joined by queues of typed frames.

`generate` reads the LLM stream; `chunk` hands tokens to the consumer, cuts clauses and asks
for a filler when the first token is late; `speak` synthesizes clauses in order and tells
`chunk` each time it is done, so the chunker knows when the speaker is idle without asking.
Without speech (a text chat) there is no `speak` and no clauses. Everything the consumer should
see comes out of `out` in order, ending with END; `stop()` cancels every stage. With tools,
`generate` runs the rounds of calls (tool_rounds.py) and tells the chunker when to flush.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from harvis.config import PipelineSettings, ToolSettings
from harvis.errors import HarvisError, InternalError
from harvis.llm.types import ChatRequest, Delta, StreamEnd
from harvis.pipeline import events as ev
from harvis.pipeline import frames as fr
from harvis.pipeline.chunker import ClauseChunker
from harvis.pipeline.filler import FillerCache
from harvis.pipeline.ports import LLMPort, SpeechPort
from harvis.pipeline.tool_rounds import ToolRounds
from harvis.speech.audio import wav_bytes
from harvis.speech.tts import VoiceRef
from harvis.tools.base import ToolContext
from harvis.tools.toolbox import Toolbox

log = logging.getLogger(__name__)
Out = ev.TurnEvent | fr.EndOfStream


class AnswerStages:
    def __init__(
        self,
        *,
        llm: LLMPort,
        speech: SpeechPort | None,
        fillers: FillerCache | None,
        settings: PipelineSettings,
        voice: VoiceRef | None,
        fallback_from: str,
        timings: dict[str, float | None],
        t0: float,
        clock: Callable[[], float],
        toolbox: Toolbox | None = None,
        tool_settings: ToolSettings | None = None,
        tools_gate: asyncio.Event | None = None,
    ) -> None:
        self.llm, self.speech, self.fillers, self.settings = llm, speech, fillers, settings
        self.toolbox, self.tool_settings = toolbox, tool_settings or ToolSettings()
        self.tool_context: ToolContext | None = None  # set once the turn knows its session
        self.tools: ToolRounds | None = None
        self.tools_gate = tools_gate  # set: tool calls may run (a speculative answer waits for it)
        self.voice, self.fallback_from = voice, fallback_from
        self.timings, self.t0, self._clock = timings, t0, clock
        self.content, self.reasoning = "", ""
        self.end: StreamEnd | None = None
        self.error: HarvisError | None = None
        self.out: asyncio.Queue[Out] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._clauses_sent = self._clauses_done = 0
        self._llm_start = t0
        self._stopped = False
        self.request: ChatRequest | None = None  # set by start()
        self.marks: dict[str, float] = {}  # clock() of the first token, clause, audio (the trace)

    def _ms(self, since: float) -> float:
        return round((self._clock() - since) * 1000.0, 1)

    def start(self, request: ChatRequest) -> None:
        inbox: asyncio.Queue[fr.ChunkerFrame] = asyncio.Queue()
        clauses: asyncio.Queue[fr.SpeakerFrame] = asyncio.Queue()
        self._llm_start = self._clock()
        self.request = request
        self._tasks = [
            asyncio.create_task(self._generate(request, inbox)),
            asyncio.create_task(self._chunk(inbox, clauses)),
        ]
        if self.speech is not None:
            self._tasks.append(asyncio.create_task(self._speak(clauses, inbox)))

    def cancel(self) -> None:
        """Stop at once (from any task); the consumer sees END next."""
        if not self._stopped:
            self._stopped = True
            for task in self._tasks:
                task.cancel()
            self.out.put_nowait(fr.END)

    async def stop(self) -> None:
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def commit_tools(self, context: ToolContext | None) -> None:
        """A speculative answer adopted by its turn: its tool calls may run now, for the
        turn's context (which knows the session)."""
        self.tool_context = context
        if self.tools is not None:
            self.tools.context = context
        if self.tools_gate is not None:
            self.tools_gate.set()

    # ---- stage: the LLM
    async def _generate(self, request: ChatRequest, inbox: asyncio.Queue[fr.ChunkerFrame]) -> None:
        self.tools = ToolRounds(
            llm=self.llm,
            toolbox=self.toolbox,
            context=self.tool_context,
            gate=self.tools_gate,
            settings=self.tool_settings,
            cue=self.speech is not None and self.fillers is not None,
            timings=self.timings,
        )
        try:
            await self.tools.run(request, inbox)
        except HarvisError as exc:
            inbox.put_nowait(fr.StageFailed(exc))
        except Exception:  # an LLM layer bug must still end the turn with an error event
            log.exception("turn: LLM stream failed")
            inbox.put_nowait(fr.StageFailed(InternalError()))
        inbox.put_nowait(fr.END)

    # ---- stage: tokens out, clauses cut
    async def _chunk(
        self, inbox: asyncio.Queue[fr.ChunkerFrame], clauses: asyncio.Queue[fr.SpeakerFrame]
    ) -> None:
        s = self.settings
        chunker = (
            ClauseChunker(
                min_chars=s.clause_min_chars,
                weak_min_chars=s.clause_weak_min_chars,
                max_wait_s=s.clause_max_wait_s,
                first_min_chars=s.first_clause_min_chars if s.low_latency else None,
                first_weak_min_chars=s.first_clause_weak_min_chars if s.low_latency else None,
            )
            if self.speech is not None
            else None
        )
        speaks_filler = chunker is not None and self.fillers is not None and s.filler_after_s >= 0
        filler_at = self._llm_start + s.filler_after_s if speaks_filler else None
        while True:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel (barge-in)
                # that lands just as an item arrives.
                async with asyncio.timeout(self._wait(chunker, filler_at)):
                    item = await inbox.get()
            except TimeoutError:
                filler_at = self._on_timeout(chunker, clauses, filler_at)
                continue
            if isinstance(item, Delta):
                if self._on_delta(item, chunker, clauses):
                    filler_at = None
            elif isinstance(item, StreamEnd):
                self._on_stream_end(item)
            elif isinstance(item, fr.StageFailed):
                self.error = self.error or item.error
            elif isinstance(item, fr.Spoken):
                self._clauses_done = item.count
            elif isinstance(item, fr.Emit):
                self.out.put_nowait(item.event)
                filler_at = None  # a tool is running: the cue, not the filler, covers it
            elif isinstance(item, fr.Flush):
                if chunker is not None and (held := chunker.flush()):
                    self._send(held, clauses)
            elif isinstance(item, fr.Cue):
                if chunker is not None:
                    clauses.put_nowait(item)
            else:
                self._on_llm_done(chunker, clauses)
                return

    def _speaker_idle(self) -> bool:
        return self._clauses_done == self._clauses_sent

    def _wait(self, chunker: ClauseChunker | None, filler_at: float | None) -> float | None:
        """Seconds until something is due: a waiting clause (only once the speaker is idle:
        it has no need of a clause cut short before then) or the filler. None: nothing is."""
        due = chunker.seconds_until_due() if chunker is not None and self._speaker_idle() else None
        if filler_at is not None:
            until_filler = max(0.0, filler_at - self._clock())
            due = until_filler if due is None else min(due, until_filler)
        return due

    def _on_timeout(
        self, chunker: ClauseChunker | None, clauses: asyncio.Queue[fr.SpeakerFrame], filler_at: float | None
    ) -> float | None:
        if filler_at is not None and self._clock() >= filler_at:
            filler_at = None
            self._tasks.append(asyncio.create_task(self._filler()))
        if chunker is not None and self._speaker_idle() and (clause := chunker.due()) is not None:
            self._send(clause, clauses)
        return filler_at

    def _on_delta(
        self, item: Delta, chunker: ClauseChunker | None, clauses: asyncio.Queue[fr.SpeakerFrame]
    ) -> bool:
        """True when the answer itself has started (no filler needed any more)."""
        if not (item.content or item.reasoning):
            return False
        self.timings.setdefault("llm_ttft_ms", self._ms(self._llm_start))
        self.marks.setdefault("llm_first_token", self._clock())
        if item.reasoning:
            self.reasoning += item.reasoning
            self.out.put_nowait(ev.Reasoning(item.reasoning))
        if not item.content:
            return False
        self.content += item.content
        self.out.put_nowait(ev.Token(item.content))
        for clause in chunker.aggregate(item.content) if chunker is not None else ():
            self._send(clause, clauses)
        return True

    def _on_stream_end(self, item: StreamEnd) -> None:
        first, last = self.end, item
        if first is not None:  # a later tool round: usage adds up, the fallback was told once
            self.end = replace(
                last,
                prompt_tokens=first.prompt_tokens + last.prompt_tokens,
                completion_tokens=first.completion_tokens + last.completion_tokens,
            )
            return
        self.end = item
        if item.fallback:
            self.out.put_nowait(
                ev.Fallback(item.fallback_from or self.fallback_from, item.model, item.served_by)
            )

    def _on_llm_done(self, chunker: ClauseChunker | None, clauses: asyncio.Queue[fr.SpeakerFrame]) -> None:
        if chunker is None:
            self.timings["total_ms"] = self._ms(self.t0)
            self.out.put_nowait(fr.END)
            return
        if self.error is None and (rest := chunker.flush()):
            self._send(rest, clauses)
        clauses.put_nowait(fr.END)

    def _send(self, clause: str, clauses: asyncio.Queue[fr.SpeakerFrame]) -> None:
        self._clauses_sent += 1
        self.marks.setdefault("first_clause", self._clock())
        clauses.put_nowait(fr.Clause(clause))

    # ---- stage: speech out
    async def _speak(
        self, clauses: asyncio.Queue[fr.SpeakerFrame], inbox: asyncio.Queue[fr.ChunkerFrame]
    ) -> None:
        assert self.speech is not None
        index = done = 0
        try:
            while not isinstance(frame := await clauses.get(), fr.EndOfStream):
                if isinstance(frame, fr.Cue):
                    await self._cue()
                    continue
                chunk = await self.speech.speak(frame.text, voice=self.voice)
                if chunk is not None:
                    # Stamped where the audio is made, like total_ms below, so the two compare.
                    self.timings.setdefault("first_audio_ms", self._ms(self.t0))
                    self.marks.setdefault("tts_first_audio", self._clock())
                    wav = wav_bytes(chunk.pcm, chunk.sample_rate)
                    self.out.put_nowait(
                        ev.AudioOut(index, chunk.sample_rate, wav, frame.text, chunk.duration_s)
                    )
                    index += 1
                done += 1
                inbox.put_nowait(fr.Spoken(done))
        except Exception as exc:
            log.exception("turn: speech synthesis failed")
            reason = exc.message if isinstance(exc, HarvisError) else type(exc).__name__
            self.error = self.error or HarvisError(f"Speech synthesis failed: {reason}", code="tts_failed")
        self.timings["total_ms"] = self._ms(self.t0)
        self.out.put_nowait(fr.END)

    async def _cue(self) -> None:
        """The tool cue, after the clauses before it; a filler event (not part of the answer)."""
        if self.fillers is None:
            return
        cue = await self.fillers.get(self.tool_settings.cue_text, self.voice)
        if cue is not None and not self._stopped:
            self.out.put_nowait(cue)

    async def _filler(self) -> None:
        if self.content or self.fillers is None:
            return
        filler = await self.fillers.get(self.settings.filler_text, self.voice)
        if filler is not None and not self.content and not self._stopped:
            self.out.put_nowait(filler)
