"""One Wyoming client connection: read events within limits, answer each one.

Every failure is an `error` event with a code and a message, as the HTTP API would answer it;
the connection goes on with the next event unless the stream itself can no longer be followed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from harvis.config import PipelineSettings, SpeechSettings, WyomingSettings
from harvis.errors import BadInput, HarvisError, NotFound
from harvis.speech.service import SpeechService
from harvis.speech.tts import VoiceRef
from harvis.speech.voices import VoiceLibrary
from harvis.store.db import Database
from harvis.wyoming import info
from harvis.wyoming.asr import Transcription
from harvis.wyoming.framing import FrameError, Limits, read_event
from harvis.wyoming.handle import Agent
from harvis.wyoming.tts import StreamingSynthesis, Synthesis

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What every connection shares: engines, voices, the agent, the store, the limits."""

    speech: SpeechService
    voices: VoiceLibrary
    agent: Agent
    db: Database
    settings: WyomingSettings
    speech_settings: SpeechSettings
    pipeline_settings: PipelineSettings
    segment_pause_ms: int = 600  # a pause this long lets the words before it be transcribed

    @property
    def limits(self) -> Limits:
        s = self.settings
        return Limits(s.max_header_bytes, s.max_data_bytes, s.max_payload_bytes)


class Connection:
    def __init__(self, deps: Deps, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.deps, self.reader, self.writer = deps, reader, writer
        self.transcription: Transcription | None = None
        self.language: str | None = None
        self.stream: StreamingSynthesis | None = None
        self._write_lock = asyncio.Lock()

    async def send(self, event: Event) -> None:
        async with self._write_lock:
            await async_write_event(event, self.writer)

    async def error(self, code: str, message: str) -> None:
        await self.send(Error(text=message, code=code).event())

    async def run(self) -> None:
        timeout = self.deps.settings.idle_timeout_s
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        event = await read_event(self.reader, self.deps.limits)
                except FrameError as exc:
                    await self.error(exc.code, exc.message)
                    if exc.fatal:
                        return
                    continue
                except TimeoutError:
                    await self.error("idle_timeout", f"no event for {timeout:g} s: closing the connection")
                    return
                if event is None:
                    return
                await self._answer(event)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.debug("wyoming: client went away")
        finally:
            await self._reset_transcription()
            self.writer.close()

    async def _answer(self, event: Event) -> None:
        try:
            await self._dispatch(event)
        except HarvisError as exc:
            if isinstance(exc, BadInput) or exc.status < 500:
                log.info("wyoming: %s refused: %s %s", event.type, exc.code, exc.message)
            else:
                log.warning("wyoming: %s failed: %s %s", event.type, exc.code, exc.message)
            await self._reset_for(event)
            await self.error(exc.code, exc.message)
        except (KeyError, TypeError, ValueError) as exc:  # a field missing or of the wrong type
            await self._reset_for(event)
            await self.error("bad_event", f"{event.type}: a field is missing or malformed ({exc})")
        except (ConnectionError, asyncio.IncompleteReadError):
            raise
        except Exception:
            log.exception("wyoming: %s failed", event.type)
            await self._reset_for(event)
            await self.error("internal_error", "the server hit an internal error")

    async def _dispatch(self, event: Event) -> None:
        t, d = event.type, self.deps
        if Describe.is_type(t):
            async with d.db.session() as db:
                described = await info.build_info(db, speech=d.speech, voices=d.voices, model=d.agent.model())
            await self.send(described.event())
        elif Ping.is_type(t):
            await self.send(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(t):
            self.language = Transcribe.from_event(event).language
        elif AudioStart.is_type(t):
            await self._begin_transcription()
        elif AudioChunk.is_type(t):
            if self.transcription is None:  # no audio-start: begin here, as other servers do
                await self._begin_transcription()
            if self.transcription is not None and not self.transcription.rejected:
                await self.transcription.audio(AudioChunk.from_event(event))
        elif AudioStop.is_type(t):
            transcription, self.transcription, self.language = self.transcription, None, None
            if transcription is None:
                raise BadInput("audio-stop without audio-start", code="no_audio")
            try:
                if not transcription.rejected:  # a rejected request was answered with its error
                    await transcription.finish()
            finally:
                await transcription.close()
        elif Transcript.is_type(t):
            await d.agent.handle(Transcript.from_event(event), self.send)
        else:
            await self._synthesis(event)

    async def _synthesis(self, event: Event) -> None:
        t, d = event.type, self.deps
        max_chars = d.settings.max_text_chars
        if Synthesize.is_type(t):
            if self.stream is not None:
                return  # sent beside a stream for older servers: the stream is the request
            request = Synthesize.from_event(event)
            voice = await self._voice(request.voice)
            await Synthesis(d.speech, self.send, max_chars=max_chars).whole(request.text, voice)
        elif SynthesizeStart.is_type(t):
            voice = await self._voice(SynthesizeStart.from_event(event).voice)
            self.stream = StreamingSynthesis(
                d.speech, self.send, max_chars=max_chars, voice=voice, pipeline=d.pipeline_settings
            )
        elif SynthesizeChunk.is_type(t):
            if self.stream is None:
                raise BadInput("synthesize-chunk without synthesize-start", code="no_stream")
            if not self.stream.rejected:
                await self.stream.text(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(t):
            stream, self.stream = self.stream, None
            if stream is None:
                raise BadInput("synthesize-stop without synthesize-start", code="no_stream")
            await stream.stop()
        # Anything else (select-program, events of other domains) is dropped, as the protocol asks.

    async def _voice(self, voice: SynthesizeVoice | None) -> VoiceRef:
        name = voice.name if voice is not None else None
        async with self.deps.db.session() as db:
            try:
                return await self.deps.voices.resolve_shared(db, name)
            except NotFound:
                raise NotFound(
                    f"no voice {name!r}: use a voice that `describe` lists", code="voice_not_found"
                ) from None

    async def _begin_transcription(self) -> None:
        await self._reset_transcription()
        d = self.deps
        transcription = Transcription(
            d.speech,
            self.send,
            language=self.language,
            max_audio_s=d.speech_settings.max_audio_s,
            pause_ms=d.segment_pause_ms,
            vad_threshold=d.pipeline_settings.vad_threshold,
        )
        self.transcription = transcription  # refused below: its chunks and stop are dropped
        await transcription.check_language()

    async def _reset_transcription(self) -> None:
        if self.transcription is not None:
            await self.transcription.close()
            self.transcription = None

    async def _reset_for(self, event: Event) -> None:
        """After a failed request, forget its half-done state so the next one starts clean."""
        if event.type.startswith("audio-") and self.transcription is not None:
            self.transcription.rejected = True  # its other chunks are dropped, its stop is quiet
        if event.type in ("synthesize-start", "synthesize-stop"):
            self.stream = None
        elif event.type == "synthesize-chunk" and self.stream is not None:
            self.stream.rejected = True  # the rest of its text is dropped; its stop still ends it
