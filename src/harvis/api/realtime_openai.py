"""WS /v1/realtime: OpenAI's Realtime API over Harvis's pipeline (pipeline/openai_realtime.py).

Clients authenticate as OpenAI's do: `Authorization: Bearer <API key>` (the SDKs), or the
browser's subprotocol `openai-insecure-api-key.<key>` next to `realtime`. No cookies: a page
on another site must not ride a signed-in browser. A wrong key is refused in the handshake
(401, OpenAI's error body). The model named in `?model=` is used when the router serves it;
otherwise the router's default, which `session.created` reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from harvis.api.deps import services, user_for_credential
from harvis.api.errors import error_body
from harvis.api.routing import api_router
from harvis.api.services import Services
from harvis.api.turns import observer
from harvis.errors import BadInput
from harvis.pipeline import openai_wire as wire
from harvis.pipeline.endpointing import SileroStream
from harvis.pipeline.openai_input import WindowProbs
from harvis.pipeline.openai_realtime import OpenAIRealtimeSession
from harvis.pipeline.recorder import DbRecorder
from harvis.speech.tts import VoiceRef
from harvis.store.models import User

router = api_router(tags=["openai"])
log = logging.getLogger(__name__)
KEY_PROTOCOL = "openai-insecure-api-key."


def _credential(ws: WebSocket) -> str | None:
    scheme, _, value = ws.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for protocol in ws.scope.get("subprotocols", []):
        if protocol.startswith(KEY_PROTOCOL) and len(protocol) > len(KEY_PROTOCOL):
            return str(protocol[len(KEY_PROTOCOL) :])
    return None


async def _user(ws: WebSocket, svc: Services) -> User | None:
    credential = _credential(ws)
    if credential is None:
        return None
    async with svc.db.session() as db:
        return await user_for_credential(db, credential, svc.secret)


def _beta(ws: WebSocket) -> bool:
    return "realtime=v1" in ws.headers.get("openai-beta", "") or "openai-beta.realtime-v1" in ws.scope.get(
        "subprotocols", []
    )


async def _model(svc: Services, requested: str | None) -> str:
    assert svc.router is not None
    served = {m.name for m in await svc.router.list_models()}
    return requested if requested and requested in served else svc.router.default_model


def _vad() -> WindowProbs:
    return SileroStream().windows  # one stateful Silero stream per session


@router.websocket("/v1/realtime")
async def realtime(ws: WebSocket) -> None:
    svc = services(ws)
    user = await _user(ws, svc)
    if user is None:
        message = (
            "a valid API key is needed (Authorization: Bearer, or the openai-insecure-api-key subprotocol)"
        )
        body = error_body(401, "invalid_api_key", message, openai=True)
        await ws.send_denial_response(
            JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        )
        return
    await ws.accept(subprotocol="realtime" if "realtime" in ws.scope.get("subprotocols", []) else None)
    send_lock = asyncio.Lock()

    async def send(event: dict[str, Any]) -> None:
        async with send_lock:
            await ws.send_text(json.dumps(event, separators=(",", ":")))

    if svc.pipeline is None or svc.router is None or svc.voices is None:
        await send(
            wire.error_event(
                "starting", "the voice pipeline is still starting; try again shortly", status=503
            )
        )
        await ws.close(code=1011)
        return
    pipeline, voices, db, user_id = svc.pipeline, svc.voices, svc.db, user.id
    s = pipeline.settings

    async def resolve_voice(name: str) -> VoiceRef:
        async with db.session() as session:
            return await voices.resolve(session, user_id=user_id, name=name)

    config = wire.SessionConfig(
        model=await _model(svc, ws.query_params.get("model")),
        instructions=s.system_prompt,
        turn_detection=wire.ServerVad(threshold=s.vad_threshold, silence_duration_ms=s.end_of_turn_ms),
    )
    session = OpenAIRealtimeSession(
        pipeline=pipeline,
        recorder_for=lambda sid: DbRecorder(db, user_id=user_id, session_id=sid, kind="voice"),
        send=send,
        vad=_vad,
        resolve_voice=resolve_voice,
        config=config,
        beta=_beta(ws),
        on_end=observer("realtime"),
    )
    try:
        await session.open()
        while True:
            frame = await ws.receive()
            if frame["type"] == "websocket.disconnect":
                break
            if frame.get("text") is None:
                await session.error(BadInput("client events are JSON text messages", code="invalid_event"))
                continue
            try:
                event = json.loads(frame["text"])
            except ValueError:
                await session.error(BadInput("a client event must be JSON", code="invalid_json"))
                continue
            await session.handle(event)
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()
