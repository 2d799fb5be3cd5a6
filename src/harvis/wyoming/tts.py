"""Text to speech over Wyoming.

`synthesize` → one `audio-start`, the audio of each sentence as soon as it is made, one
`audio-stop`. Streaming (`synthesize-start`, `synthesize-chunk`… with text as an LLM writes it,
`synthesize-stop`): the pipeline's clause chunker cuts the text as it arrives and each clause
is spoken at once, as its own `audio-start/chunk/stop`; `synthesize-stopped` ends it. The
`synthesize` a streaming client also sends (for older servers) is ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.event import Event
from wyoming.tts import SynthesizeStopped

from harvis.config import PipelineSettings
from harvis.errors import TooLarge
from harvis.pipeline.chunker import ClauseChunker
from harvis.speech.audio import pcm16
from harvis.speech.service import SpeechService
from harvis.speech.tts import AudioChunk as Speech
from harvis.speech.tts import VoiceRef

Send = Callable[[Event], Awaitable[None]]
SAMPLES_PER_CHUNK = 1024  # as wyoming-piper sends them: small enough to start playing at once


async def send_audio(send: Send, speech: Speech) -> None:
    data = pcm16(speech.pcm)
    step = SAMPLES_PER_CHUNK * 2
    for start in range(0, len(data), step):
        chunk = AudioChunk(rate=speech.sample_rate, width=2, channels=1, audio=data[start : start + step])
        await send(chunk.event())


class Synthesis:
    def __init__(self, speech: SpeechService, send: Send, *, max_chars: int) -> None:
        self.speech, self.send, self.max_chars = speech, send, max_chars

    def _check(self, chars: int) -> None:
        if chars > self.max_chars:
            raise TooLarge(f"the text is longer than the limit of {self.max_chars} characters")

    async def whole(self, text: str, voice: VoiceRef) -> None:
        """`synthesize`: one audio stream for the whole text, sentence by sentence."""
        self._check(len(text))
        started = False
        async for speech in self.speech.synthesize(text, voice=voice):
            if not started:
                started = True
                await self.send(AudioStart(rate=speech.sample_rate, width=2, channels=1).event())
            await send_audio(self.send, speech)
        if not started:  # nothing to say (punctuation only): an empty stream, still well formed
            engine = await self.speech.ensure_tts()
            await self.send(AudioStart(rate=engine.sample_rate, width=2, channels=1).event())
        await self.send(AudioStop().event())


class StreamingSynthesis(Synthesis):
    """`synthesize-start` … `synthesize-stop` on one connection."""

    def __init__(
        self,
        speech: SpeechService,
        send: Send,
        *,
        max_chars: int,
        voice: VoiceRef,
        pipeline: PipelineSettings,
    ) -> None:
        super().__init__(speech, send, max_chars=max_chars)
        self.voice = voice
        self.chars = 0
        self.chunker = ClauseChunker(
            min_chars=pipeline.clause_min_chars,
            weak_min_chars=pipeline.clause_weak_min_chars,
            max_wait_s=pipeline.clause_max_wait_s,
        )
        self.clauses: list[str] = []  # spoken so far, in order
        self.rejected = False  # a chunk was refused (reported at once): the rest is dropped

    async def text(self, text: str) -> None:
        self.chars += len(text)
        self._check(self.chars)
        for clause in self.chunker.aggregate(text):
            await self._clause(clause)
        if (late := self.chunker.due()) is not None:  # text that waited too long for a boundary
            await self._clause(late)

    async def stop(self) -> None:
        if not self.rejected and (rest := self.chunker.flush()) is not None:
            await self._clause(rest)
        await self.send(SynthesizeStopped().event())

    async def _clause(self, clause: str) -> None:
        speech = await self.speech.speak(clause, voice=self.voice)
        self.clauses.append(clause)
        if speech is None:
            return
        await self.send(AudioStart(rate=speech.sample_rate, width=2, channels=1).event())
        await send_audio(self.send, speech)
        await self.send(AudioStop().event())
