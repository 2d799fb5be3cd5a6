"""Audio uploads: read within one size limit, decoded once, here at the API edge."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, File, UploadFile

from harvis.api.deps import SettingsDep
from harvis.errors import TooLarge
from harvis.speech.audio import Audio, AudioError, decode

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class DecodedUpload:
    audio: Audio
    decode_ms: float
    started_at: float  # perf_counter when reading began: where a voice turn's clock starts


async def read_upload(upload: UploadFile, *, limit_mb: int) -> bytes:
    """The whole upload, or 413 as soon as it passes the limit (never read further)."""
    limit = limit_mb * 1024 * 1024
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the upload is larger than the limit of {limit_mb} MB")
        chunks.append(chunk)
    return b"".join(chunks)


async def decode_upload(
    upload: UploadFile, *, limit_mb: int, max_s: float, slack_s: float = 0.0
) -> DecodedUpload:
    """Read and decode (in a worker thread) to 16 kHz mono; `slack_s` lets a container that
    rounds its duration up pass, while the message states the real limit."""
    started = time.perf_counter()
    data = await read_upload(upload, limit_mb=limit_mb)
    t = time.perf_counter()
    try:
        audio = await asyncio.to_thread(decode, data, max_seconds=max_s + slack_s)
    except AudioError as exc:
        if exc.code == "audio_too_long":
            raise AudioError(exc.code, f"the audio is too long: at most {max_s:g} s") from None
        raise
    return DecodedUpload(audio, round((time.perf_counter() - t) * 1000.0, 1), started)


async def _question(
    settings: SettingsDep,
    audio: Annotated[UploadFile, File(description="the question: WebM/Opus, WAV, MP3, OGG…")],
) -> DecodedUpload:
    s = settings.speech
    return await decode_upload(audio, limit_mb=s.max_upload_mb, max_s=s.max_audio_s)


async def _recording(
    settings: SettingsDep,
    file: Annotated[UploadFile, File(description="audio: wav, mp3, ogg, webm, flac …")],
) -> DecodedUpload:
    s = settings.speech
    return await decode_upload(file, limit_mb=s.max_upload_mb, max_s=s.max_audio_s)


async def _reference(
    settings: SettingsDep,
    audio: Annotated[UploadFile, File(description="reference clip, 5–60 s of one person speaking")],
) -> DecodedUpload:
    s = settings.speech
    return await decode_upload(audio, limit_mb=s.voice_max_mb, max_s=s.voice_max_s, slack_s=0.5)


QuestionAudio = Annotated[DecodedUpload, Depends(_question)]  # POST /api/voice/turn (`audio`)
RecordingAudio = Annotated[DecodedUpload, Depends(_recording)]  # POST /v1/audio/transcriptions (`file`)
ReferenceAudio = Annotated[DecodedUpload, Depends(_reference)]  # POST /api/voices (`audio`)
