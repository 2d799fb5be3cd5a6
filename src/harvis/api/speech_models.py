"""GET /api/models/speech: every resident speech model, its state, load time and memory."""

from __future__ import annotations

from typing import Any

from harvis.api.deps import CurrentUser, SpeechDep
from harvis.api.routing import api_router

router = api_router(tags=["models"])


@router.get("/api/models/speech")
async def speech_models(user: CurrentUser, speech: SpeechDep) -> list[dict[str, Any]]:
    return speech.status()
