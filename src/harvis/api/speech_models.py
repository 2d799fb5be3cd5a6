"""GET /api/models/speech: every resident speech model, its state, load time and memory."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from harvis.api.audio import speech_service
from harvis.api.deps import CurrentUser

router = APIRouter(tags=["models"])


@router.get("/api/models/speech")
async def speech_models(request: Request, user: CurrentUser) -> list[dict[str, Any]]:
    return speech_service(request).status()
