"""OpenAI's audio API: POST /v1/audio/transcriptions and POST /v1/audio/speech (streamed)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import Form
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, Field

from harvis.api.deps import CurrentUser, DbSession, SpeechDep, VoicesDep
from harvis.api.routing import api_router
from harvis.api.schema_docs import SPEECH
from harvis.api.uploads import RecordingAudio
from harvis.errors import BadInput, HarvisError
from harvis.speech import formats
from harvis.speech.encode import StreamEncoder
from harvis.speech.tts import split_sentences

router = api_router(tags=["audio"])
log = logging.getLogger(__name__)

TRANSCRIPT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


@router.post("/v1/audio/transcriptions", response_model=None)
async def transcriptions(
    user: CurrentUser,
    service: SpeechDep,
    upload: RecordingAudio,
    model: Annotated[str, Form()] = "whisper-1",
    language: Annotated[str | None, Form()] = None,
    response_format: Annotated[str, Form()] = "json",
    prompt: Annotated[str | None, Form()] = None,
    temperature: Annotated[float | None, Form()] = None,
    timestamp_granularities: Annotated[list[str] | None, Form(alias="timestamp_granularities[]")] = None,
) -> Response:
    if response_format not in TRANSCRIPT_FORMATS:
        formats_ = ", ".join(TRANSCRIPT_FORMATS)
        raise BadInput(f"response_format must be one of: {formats_}", code="invalid_response_format")
    lang = (language or "").strip().lower() or None
    if lang is not None and not _LANGUAGE.match(lang):
        raise BadInput("language must be an ISO-639-1 code such as 'en'", code="invalid_language")
    words = "word" in (timestamp_granularities or ()) and response_format == "verbose_json"
    transcript = await service.transcribe(upload.audio, language=lang, word_timestamps=words)
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
    # Chatterbox's style for this request (over the voice's own and the server default).
    exaggeration: float | None = Field(default=None, ge=0.25, le=2.0)
    cfg_weight: float | None = Field(default=None, ge=0.0, le=1.0)


@router.post("/v1/audio/speech", response_model=None, response_class=StreamingResponse, responses=SPEECH)
async def speech(
    body: SpeechRequest, user: CurrentUser, db: DbSession, service: SpeechDep, voices: VoicesDep
) -> StreamingResponse:
    voice = body.voice.get("id") if isinstance(body.voice, dict) else body.voice
    if not isinstance(voice, str):
        raise BadInput('voice must be a name, a voice id, or {"id": …}', code="invalid_voice")
    if "\x00" in body.input:  # would be silently dropped: 200 with an empty WAV
        raise BadInput("the input must not contain NUL characters", code="invalid_input")
    if not split_sentences(body.input):
        raise BadInput("the input has nothing to say (no letters or digits)", code="empty_input")
    ref = await voices.resolve(db, user_id=user.id, name=voice)
    ref = dataclasses.replace(
        ref,
        exaggeration=ref.exaggeration if body.exaggeration is None else body.exaggeration,
        cfg_weight=ref.cfg_weight if body.cfg_weight is None else body.cfg_weight,
    )
    engine = await service.ensure_tts()  # a model that cannot load is a 503 now, not a broken stream
    encoder = StreamEncoder(body.response_format, engine.sample_rate)

    async def stream() -> AsyncIterator[bytes]:
        yield encoder.start()
        try:
            async for chunk in service.synthesize(body.input, voice=ref, speed=body.speed):
                data = (
                    encoder.feed(chunk.pcm)
                    if body.response_format in ("wav", "pcm")
                    else await asyncio.to_thread(encoder.feed, chunk.pcm)
                )
                if data:
                    yield data
            yield encoder.end()
        except HarvisError as exc:  # headers are gone: end the stream, log why
            log.warning("speech stream ended early: %s", exc)

    headers = {
        "Cache-Control": "no-cache",
        "X-Accel-Buffering": "no",
        "X-Sample-Rate": str(24_000 if body.response_format == "pcm" else engine.sample_rate),
    }
    return StreamingResponse(stream(), media_type=encoder.media_type, headers=headers)
