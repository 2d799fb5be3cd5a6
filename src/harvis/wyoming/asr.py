"""Speech to text over Wyoming: `transcribe`, then `audio-start/chunk/stop` → `transcript`.

Audio is transcribed while it still arrives: the endpointer (the realtime socket's Silero
stream and turn finder, used as they are) cuts the stream at the speaker's pauses, each piece
is transcribed in the background and sent at once as a `transcript-chunk`. At `audio-stop` only
the last piece is left to do; then the whole `transcript` (for clients without streaming) and
`transcript-stop`. What is not speech is never transcribed (no second VAD pass).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import numpy as np
from wyoming.asr import Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk
from wyoming.event import Event

from harvis.errors import BadInput, HarvisError, TooLarge
from harvis.pipeline.endpointing import RATE, Endpointer, SileroStream
from harvis.speech.audio import Audio
from harvis.speech.service import SpeechService
from harvis.speech.stream_audio import StreamResampler, pcm_to_float

log = logging.getLogger(__name__)
Send = Callable[[Event], Awaitable[None]]
VAD_BATCH = RATE // 5  # samples the VAD takes at once (200 ms): a pause is found that late at most


def language_code(language: str | None) -> str | None:
    """Home Assistant sends tags such as "en" or "en-US"; Whisper wants "en"."""
    if not language:
        return None
    return language.replace("_", "-").split("-")[0].lower() or None


class Transcription:
    """One `transcribe` request on one connection."""

    def __init__(
        self,
        speech: SpeechService,
        send: Send,
        *,
        language: str | None,
        max_audio_s: float,
        pause_ms: int,
        vad_threshold: float,
    ) -> None:
        self.speech, self.send = speech, send
        self.language = language
        self.max_audio_s = max_audio_s
        self._resampler: StreamResampler | None = None
        self._unheard: list[np.ndarray] = []  # 16 kHz audio the VAD has not seen yet
        self._unheard_n = 0
        self._vad: SileroStream | None = None
        self._endpointer = Endpointer(threshold=vad_threshold, end_ms=pause_ms, max_s=max_audio_s)
        self._seconds = 0.0
        self._pieces: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._texts: list[str] = []
        self._detected: str | None = None
        self._started = False
        self._worker: asyncio.Task[None] | None = None
        self.failed: HarvisError | None = None  # transcription failed (reported at audio-stop)
        self.rejected = False  # the request was refused (reported at once): drop the rest

    async def check_language(self) -> None:
        """An English-only model asked for another language: say so rather than guess."""
        code = language_code(self.language)
        if code is None or code == "en":
            return
        engine = await self.speech.stt.get()
        if not engine.multilingual:
            raise BadInput(
                f"the speech model {self.speech.stt.name} understands English only, not {self.language!r}",
                code="unsupported_language",
            )

    async def audio(self, chunk: AudioChunk) -> None:
        if chunk.channels not in (1, 2) or not 8000 <= chunk.rate <= 96000:
            raise BadInput("audio chunks are PCM of 1 or 2 channels at 8–96 kHz", code="bad_audio")
        if self._resampler is None:
            self._resampler = StreamResampler(chunk.rate, RATE)
        elif chunk.rate != self._resampler.from_rate:
            raise BadInput("the audio's rate changed within one stream", code="bad_audio")
        samples = pcm_to_float(chunk.audio, width=chunk.width, channels=chunk.channels)
        self._seconds += len(samples) / chunk.rate
        if self._seconds > self.max_audio_s:
            raise TooLarge(f"the audio is longer than the limit of {self.max_audio_s:g} s")
        await self._push(self._resampler.push(samples))

    async def _push(self, samples: np.ndarray, *, last: bool = False) -> None:
        # Chunks are small (64 ms): the VAD takes them a few at a time, one thread hop each.
        self._unheard.append(samples)
        self._unheard_n += len(samples)
        if self._unheard_n < VAD_BATCH and not last:
            return
        batch = np.concatenate(self._unheard) if self._unheard else np.zeros(0, np.float32)
        self._unheard, self._unheard_n = [], 0
        if self._vad is None:
            self._vad = await asyncio.to_thread(SileroStream)
            self._worker = asyncio.create_task(self._transcribe_pieces())
        for window, prob in await asyncio.to_thread(self._vad.windows, batch):
            moment = self._endpointer.push(window, prob)
            if moment is not None and moment.audio is not None:
                self._pieces.put_nowait(moment.audio)  # a pause: this piece can be heard now

    async def finish(self) -> None:
        """`audio-stop`: the last piece, then the whole transcript."""
        if self._resampler is not None:
            await self._push(self._resampler.flush(), last=True)
        moment = self._endpointer.end()
        if moment is not None and moment.audio is not None:
            self._pieces.put_nowait(moment.audio)
        self._pieces.put_nowait(None)
        if self._worker is not None:
            await self._worker
        if self.failed is not None:
            raise self.failed
        await self._start()
        text = " ".join(self._texts)
        await self.send(Transcript(text=text, language=self._detected or self.language).event())
        await self.send(TranscriptStop().event())

    async def close(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self.send(TranscriptStart(language=self.language).event())

    async def _transcribe_pieces(self) -> None:
        language = language_code(self.language)
        while (piece := await self._pieces.get()) is not None:
            if self.failed is not None:
                continue
            try:
                heard = await self.speech.transcribe(Audio(piece, RATE), language=language)
            except Exception as exc:  # reported at audio-stop, as the HTTP API would
                log.exception("wyoming: transcription failed")
                self.failed = HarvisError(f"Speech recognition failed: {exc}", code="stt_failed")
                continue
            text = heard.text.strip()
            self._detected = self._detected or heard.language
            if text:
                self._texts.append(text)
                await self._start()
                await self.send(TranscriptChunk(text=text if len(self._texts) == 1 else " " + text).event())
