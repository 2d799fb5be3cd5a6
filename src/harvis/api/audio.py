"""OpenAI's audio API: POST /v1/audio/transcriptions and POST /v1/audio/speech (streamed)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from harvis.api.deps import CurrentUser, DbSession
from harvis.api.errors import ApiError
from harvis.speech import formats
from harvis.speech.audio import AudioError
from harvis.speech.encode import StreamEncoder
from harvis.speech.resident import ModelUnavailable
from harvis.speech.service import SpeechService, VoiceNotFound
from harvis.speech.tts import TTSUnavailable, split_sentences
from harvis.speech.voices import VoiceError

router = APIRouter(tags=["audio"])
log = logging.getLogger(__name__)

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


def speech_service(request: Request) -> SpeechService:
    service: SpeechService | None = getattr(request.app.state, "speech", None)
    if service is None:
        raise ApiError(503, "speech_unavailable", "speech services are not running on this server")
    return service


async def read_upload(upload: UploadFile, *, limit_bytes: int) -> bytes:
    """The whole upload, or 413 as soon as it passes the limit (never read further)."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(1024 * 1024):
        size += len(chunk)
        if size > limit_bytes:
            raise ApiError(413, "upload_too_large",
                           f"the upload is larger than the limit of {limit_bytes // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def speech_errors() -> Iterator[None]:
    """Speech failures as API errors: bad input 4xx, a model that cannot load 503."""
    try:
        yield
    except (AudioError, VoiceError) as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    except VoiceNotFound as exc:
        raise ApiError(404, "voice_not_found", str(exc)) from None
    except (ModelUnavailable, TTSUnavailable) as exc:
        raise ApiError(503, "model_unavailable", str(exc)) from None


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    request: Request,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="audio: wav, mp3, ogg, webm, flac …")],
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    prompt: Annotated[str | None, Form()] = None,
    temperature: Annotated[float | None, Form()] = None,
    timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
) -> Response:
    service = speech_service(request)
    settings = service.settings
    if response_format not in TRANSCRIPT_FORMATS:
        raise ApiError(400, "invalid_response_format",
                       f"response_format must be one of: {', '.join(TRANSCRIPT_FORMATS)}")
    lang = (language or "").strip().lower() or None
    if lang is not None and not _LANGUAGE.match(lang):
        raise ApiError(400, "invalid_language", "language must be an ISO-639-1 code such as 'en'")
    words = "word" in (timestamp_granularities or ()) and response_format == "verbose_json"
    data = await read_upload(file, limit_bytes=settings.max_upload_mb * 1024 * 1024)
    with speech_errors():
        audio = await asyncio.to_thread(service.decode, data, max_seconds=settings.max_audio_s)
        transcript = await service.transcribe(audio, language=lang, word_timestamps=words)
    if response_format == "json":
        return JSONResponse({"text": transcript.text})
    if response_format == "verbose_json":
        return JSONResponse(formats.verbose_json(transcript, words=words))
    if response_format == "srt":
        return PlainTextResponse(formats.srt(transcript))
    if response_format == "vtt":
        return PlainTextResponse(formats.vtt(transcript), media_type="text/vtt")
    return PlainTextResponse(transcript.text + "\n")


class SpeechRequest(BaseModel):
    model: str = "tts-1"
    input: str = Field(min_length=1, max_length=4096)
    voice: str | dict[str, Any] = "alloy"  # a built-in name, an OpenAI name, a voice id, or {"id": …}
    response_format: Literal["wav", "pcm", "mp3", "opus", "aac", "flac"] = "mp3"
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    instructions: str | None = None  # accepted for compatibility; Piper has no style control


@router.post("/v1/audio/speech", response_model=None)
async def speech(body: SpeechRequest, request: Request, user: CurrentUser,
                 db: DbSession) -> StreamingResponse:
    service = speech_service(request)
    voice = body.voice.get("id") if isinstance(body.voice, dict) else body.voice
    if not isinstance(voice, str):
        raise ApiError(400, "invalid_voice", "voice must be a name, a voice id, or {\"id\": …}")
    if not split_sentences(body.input):
        raise ApiError(400, "empty_input", "the input has nothing to say (no letters or digits)")
    with speech_errors():
        ref = await service.voice_for(user.id, voice, db)
        engine = await service.ensure_tts()  # a model that cannot load is a 503 now, not a broken stream
    encoder = StreamEncoder(body.response_format, engine.sample_rate)

    async def stream() -> AsyncIterator[bytes]:
        yield encoder.start()
        try:
            async for chunk in service.synthesize(body.input, voice=ref, speed=body.speed):
                data = encoder.feed(chunk.pcm) if body.response_format in ("wav", "pcm") else \
                    await asyncio.to_thread(encoder.feed, chunk.pcm)
                if data:
                    yield data
            yield encoder.end()
        except (ModelUnavailable, TTSUnavailable) as exc:  # headers are gone: end the stream, log why
            log.warning("speech stream ended early: %s", exc)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
               "X-Sample-Rate": str(24_000 if body.response_format == "pcm" else engine.sample_rate)}
    return StreamingResponse(stream(), media_type=encoder.media_type, headers=headers)
