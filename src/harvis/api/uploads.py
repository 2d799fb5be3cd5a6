"""Audio uploads: read within one size limit, decoded once, here at the API edge.

The form parser has already spooled the file to disk (BodyLimitMiddleware bounded the body and
checked the credential first); it is decoded from there, never copied whole into memory."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, BinaryIO

from fastapi import Depends, File, UploadFile

from harvis.api.deps import SettingsDep
from harvis.api.limits import FRAMING_BYTES
from harvis.config import Settings
from harvis.errors import TooLarge
from harvis.speech.audio import Audio, AudioError, decode

MB = 1024 * 1024
VOICES_PATH = "/api/voices"


@dataclass(frozen=True)
class DecodedUpload:
    audio: Audio
    decode_ms: float
    started_at: float  # perf_counter when reading began: where a voice turn's clock starts


def upload_limit_for(settings: Settings) -> Callable[[str], int]:
    """The largest multipart body each path takes (the file's limit plus the form around it)."""
    s = settings.speech

    def limit(path: str) -> int:
        mb = s.voice_max_mb if path.rstrip("/") == VOICES_PATH else s.max_upload_mb
        return mb * MB + FRAMING_BYTES

    return limit


def spooled_file(upload: UploadFile, *, limit_mb: int) -> BinaryIO:
    """The upload's file, rewound, or 413 when it passes the limit (its size is known here)."""
    file = upload.file
    file.seek(0, 2)
    if file.tell() > limit_mb * MB:
        raise TooLarge(f"the upload is larger than the limit of {limit_mb} MB")
    file.seek(0)
    return file


async def decode_upload(
    upload: UploadFile, *, limit_mb: int, max_s: float, slack_s: float = 0.0
) -> DecodedUpload:
    """Read and decode (in a worker thread) to 16 kHz mono; `slack_s` lets a container that
    rounds its duration up pass, while the message states the real limit."""
    started = time.perf_counter()
    data = spooled_file(upload, limit_mb=limit_mb)
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
