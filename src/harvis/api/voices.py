"""The voice library: POST/GET /api/voices, DELETE /api/voices/{id} (owner only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from harvis.api.audio import read_upload, speech_errors, speech_service
from harvis.api.deps import CurrentUser, DbSession
from harvis.api.errors import ApiError
from harvis.speech.voices import describe

router = APIRouter(tags=["voices"])


@router.get("/api/voices")
async def list_voices(request: Request, user: CurrentUser, db: DbSession) -> dict[str, Any]:
    service = speech_service(request)
    voices = await service.voices.list(db, user_id=user.id)
    return {
        "builtin": service.builtin_voices(),
        "voices": [describe(v) for v in voices],
        # What a new voice becomes here ("match" with Piper on CPU, "clone" with Chatterbox),
        # and the statement the upload form must show and send back as `consent`.
        "mode": service.voice_mode,
        "engine": service.engine_name,
        "consent_text": service.settings.consent_text,
        "limits": {"min_s": service.settings.voice_min_s, "max_s": service.settings.voice_max_s,
                   "max_mb": service.settings.voice_max_mb},
    }


@router.post("/api/voices", status_code=201)
async def create_voice(
    request: Request,
    user: CurrentUser,
    db: DbSession,
    audio: Annotated[UploadFile, File(description="reference clip, 5–60 s of one person speaking")],
    name: Annotated[str, Form(max_length=200)],
    consent: Annotated[str, Form(description="the consent statement, exactly as shown")],
) -> dict[str, Any]:
    service = speech_service(request)
    data = await read_upload(audio, limit_bytes=service.settings.voice_max_mb * 1024 * 1024)
    with speech_errors():
        voice = await service.voices.create(db, user_id=user.id, name=name, consent=consent, data=data)
    return describe(voice)


@router.delete("/api/voices/{voice_id}", status_code=204)
async def delete_voice(voice_id: str, request: Request, user: CurrentUser, db: DbSession) -> Response:
    service = speech_service(request)
    if not await service.voices.delete(db, user_id=user.id, voice_id=voice_id):
        raise ApiError(404, "voice_not_found", "no such voice")
    return Response(status_code=204)
