"""The voice library: POST/GET /api/voices, PATCH/DELETE /api/voices/{id} (owner only; sharing a
voice with the unauthenticated Wyoming front end also needs an admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Response
from pydantic import BaseModel, ConfigDict

from harvis.api.deps import CurrentPrincipal, CurrentUser, DbSession, SpeechDep, VoicesDep
from harvis.api.routing import api_router
from harvis.api.uploads import ReferenceAudio
from harvis.errors import Forbidden, NotFound
from harvis.speech.voices import describe

router = api_router(tags=["voices"])


@router.get("/api/voices")
async def list_voices(
    user: CurrentUser, db: DbSession, voices: VoicesDep, speech: SpeechDep
) -> dict[str, Any]:
    s = voices.settings
    return {
        "builtin": voices.builtin_voices(),
        "voices": [describe(v) for v in await voices.list(db, user_id=user.id)],
        # What a new voice becomes here ("match" with Piper on CPU, "clone" with Chatterbox),
        # and the statement the upload form must show and send back as `consent`.
        "mode": speech.voice_mode,
        "engine": speech.engine_name,
        "consent_text": s.consent_text,
        "limits": {"min_s": s.voice_min_s, "max_s": s.voice_max_s, "max_mb": s.voice_max_mb},
    }


@router.post("/api/voices", status_code=201)
async def create_voice(
    user: CurrentUser,
    db: DbSession,
    voices: VoicesDep,
    upload: ReferenceAudio,
    name: Annotated[str, Form(max_length=200)],
    consent: Annotated[str, Form(description="the consent statement, exactly as shown")],
    exaggeration: Annotated[float | None, Form(ge=0.25, le=2.0, description="Chatterbox style")] = None,
    cfg_weight: Annotated[float | None, Form(ge=0.0, le=1.0, description="Chatterbox pacing")] = None,
) -> dict[str, Any]:
    style = {k: v for k, v in (("exaggeration", exaggeration), ("cfg_weight", cfg_weight)) if v is not None}
    voice = await voices.create(
        db, user_id=user.id, name=name, consent=consent, audio=upload.audio, style=style
    )
    return describe(voice)


class VoiceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shared: bool


@router.patch("/api/voices/{voice_id}")
async def change_voice(
    voice_id: str, body: VoiceChange, who: CurrentPrincipal, db: DbSession, voices: VoicesDep
) -> dict[str, Any]:
    """`shared: true` offers the voice, by its id, to every Wyoming client (Home Assistant): they
    cannot sign in, so only an admin may do it, and only with a voice of their own."""
    user = who.user
    if not user.is_admin or who.api_key is not None:
        raise Forbidden("only an admin, signed in with a password, may share a voice with Wyoming clients")
    voice = await voices.set_shared(db, user_id=user.id, voice_id=voice_id, shared=body.shared)
    return describe(voice)


@router.delete("/api/voices/{voice_id}", status_code=204)
async def delete_voice(voice_id: str, user: CurrentUser, db: DbSession, voices: VoicesDep) -> Response:
    if not await voices.delete(db, user_id=user.id, voice_id=voice_id):
        raise NotFound("no such voice", code="voice_not_found")
    return Response(status_code=204)
