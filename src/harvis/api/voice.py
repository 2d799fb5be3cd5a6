"""Voice conversation endpoints: POST /api/voice/turn (SSE) and WS /api/voice/ws (realtime).

Both save the exchange in a chat session (kind "voice"): the transcript before the LLM is
called, the answer when the turn ends (interrupted answers cut to what was spoken).

The socket: binary frames are 16 kHz PCM16; text frames are control messages ("start",
"stop", "cancel", "ping" → "pong", and "played": on barge-in the client says how far it
played an answer — clause `index`, `offset_s` into it — and the answer is saved as heard,
answered with "truncated"). Server events: "ready", "listening", "speech_started",
"partial" (`text`: what was heard so far, at the user's pauses, while they still talk; the
low-latency path), "speech_ended" (`cut`: the length limit, the user talks on), "heard" (each
piece's words, while the user may still talk), "interrupted", then each turn's events; the
`done` event's timings carry the trace (`eos_*_ms`: ms after the end of speech); any time, the
user's timers as they go off: "timer", then its spoken "timer_audio" (api/timer_voice.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Any

from fastapi import Form, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.api import timer_voice
from harvis.api.chat import check_timezone
from harvis.api.deps import (
    CurrentUser,
    DbSession,
    PipelineDep,
    RouterDep,
    ServicesDep,
    VoicesDep,
    credential_from,
    services,
    user_for_credential,
)
from harvis.api.routing import api_router
from harvis.api.schema_docs import VOICE_STREAM
from harvis.api.services import Services
from harvis.api.sse import EventStreamResponse
from harvis.api.turns import observer, sse
from harvis.api.uploads import QuestionAudio
from harvis.errors import HarvisError, NotFound
from harvis.llm.router import Router
from harvis.pipeline import events as ev
from harvis.pipeline.endpointing import SileroStream
from harvis.pipeline.pipeline import Pipeline
from harvis.pipeline.realtime import RealtimeSession, Send
from harvis.pipeline.recorder import DbRecorder
from harvis.pipeline.turn import TurnOptions
from harvis.speech.voices import VoiceLibrary
from harvis.store import chats
from harvis.store.models import User

router = api_router(tags=["voice"])
log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 64 * 1024  # one WS audio message: 2 s of 16 kHz PCM16 at most


async def _options(
    db: AsyncSession,
    user_id: str,
    *,
    llm: Router,
    voices: VoiceLibrary,
    pipeline: Pipeline,
    session_id: str | None,
    model: str | None,
    voice: str | None,
    language: str | None,
    timezone: str | None = None,
) -> TurnOptions:
    """Validate what a turn asks for (session ownership, voice, time zone) before anything streams."""
    check_timezone(timezone)
    chat_model = None
    if session_id:
        chat = await chats.get_session(db, user_id=user_id, session_id=session_id)
        if chat is None:
            raise NotFound("no such session", code="session_not_found")
        chat_model = chat.model
    voice_ref = await voices.resolve(db, user_id=user_id, name=voice or None)
    return pipeline.voice_options(
        model=model or chat_model or llm.default_model,
        voice=voice_ref,
        language=language or None,
        user_id=user_id,
        timezone=timezone or None,
    )


@router.post(
    "/api/voice/turn",
    response_class=EventStreamResponse,
    responses=VOICE_STREAM,
)
async def voice_turn(
    user: CurrentUser,
    db: DbSession,
    svc: ServicesDep,
    llm: RouterDep,
    voices: VoicesDep,
    pipeline: PipelineDep,
    upload: QuestionAudio,
    session_id: Annotated[str | None, Form(max_length=64)] = None,
    model: Annotated[str | None, Form(max_length=200)] = None,
    voice: Annotated[str | None, Form(max_length=64)] = None,
    language: Annotated[str | None, Form(max_length=8)] = None,
    timezone: Annotated[str | None, Form(max_length=64)] = None,
) -> EventStreamResponse:
    options = await _options(
        db,
        user.id,
        llm=llm,
        voices=voices,
        pipeline=pipeline,
        session_id=session_id,
        model=model,
        voice=voice,
        language=language,
        timezone=timezone,
    )
    pipeline.warm(options.model)  # a cold model (and TTS) load while the audio is heard
    recorder = DbRecorder(svc.db, user_id=user.id, session_id=session_id, kind="voice")
    turn = pipeline.turn(
        recorder, options, on_end=observer("turn"), started_at=upload.started_at, decode_ms=upload.decode_ms
    )
    return EventStreamResponse(sse(turn.events(upload.audio)))


# ---- realtime


async def _ws_user(ws: WebSocket, svc: Services) -> User | None:
    token = ws.query_params.get("token") or credential_from(ws)
    if not token:
        return None
    async with svc.db.session() as db:
        return await user_for_credential(db, token, svc.secret)


def _same_origin(ws: WebSocket, svc: Services) -> bool:
    """Browsers send Origin on WebSocket handshakes; a foreign page must not ride the cookie."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = ws.headers.get("host", "")
    return origin in svc.settings.auth.cors_origins or origin.split("://", 1)[-1] == host


@router.websocket("/api/voice/ws")
async def voice_ws(ws: WebSocket) -> None:
    svc = services(ws)
    await ws.accept()
    send_lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with send_lock:
            await ws.send_json(message)

    user = await _ws_user(ws, svc) if _same_origin(ws, svc) else None
    if user is None:
        await send(ev.to_ws(ev.Error("unauthorized", "sign in first (session cookie or ?token=)")))
        await ws.close(code=4401)
        return
    if svc.pipeline is None or svc.router is None or svc.voices is None:
        await send(ev.to_ws(ev.Error("starting", "the voice pipeline is still starting; try again shortly")))
        await ws.close(code=1011)
        return
    vad = await asyncio.to_thread(SileroStream)
    db, user_id = svc.db, user.id
    session = RealtimeSession(
        pipeline=svc.pipeline,
        send=send,
        vad=vad.windows,
        on_end=observer("ws"),
        recorder_for=lambda sid: DbRecorder(db, user_id=user_id, session_id=sid, kind="voice"),
    )
    await send({"type": "ready", "sample_rate": 16000, "format": "pcm16"})
    hub = svc.timers.clock.hub if svc.timers is not None else None
    announcer = timer_voice.start(hub, user_id, session, svc.pipeline.speech, send) if hub else None
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await _audio(session, message["bytes"], send)
            elif message.get("text") is not None:
                await _control(session, message["text"], svc, user.id, send)
    except WebSocketDisconnect:
        pass
    finally:
        await timer_voice.stop(announcer)
        await session.close()


async def _audio(session: RealtimeSession, data: bytes, send: Send) -> None:
    if len(data) > MAX_FRAME_BYTES or len(data) % 2:
        message = f"audio frames are 16 kHz mono PCM16, at most {MAX_FRAME_BYTES} bytes"
        await send(ev.to_ws(ev.Error("bad_audio_frame", message)))
        return
    await session.audio(data)


async def _control(session: RealtimeSession, text: str, svc: Services, user_id: str, send: Send) -> None:
    try:
        msg = json.loads(text)
        kind = msg["type"] if isinstance(msg, dict) else None
    except (ValueError, KeyError):
        kind = None
    if kind == "start":
        assert svc.router is not None and svc.voices is not None and svc.pipeline is not None
        try:
            async with svc.db.session() as db:
                options = await _options(
                    db,
                    user_id,
                    llm=svc.router,
                    voices=svc.voices,
                    pipeline=svc.pipeline,
                    session_id=_str(msg.get("session_id")),
                    model=_str(msg.get("model")),
                    voice=_str(msg.get("voice")),
                    language=_str(msg.get("language")),
                    timezone=_str(msg.get("timezone")),
                )
        except HarvisError as exc:
            await send(ev.to_ws(ev.Error(exc.code, exc.message)))
            return
        await session.start(options, _str(msg.get("session_id")))
    elif kind == "stop":
        await session.stop()
    elif kind == "cancel":
        await session.interrupt()
    elif kind == "played":
        await _played(session, msg, send)
    elif kind == "ping":  # the session is alive and reading (answered even while speech is heard)
        await send({"type": "pong", "id": _str(msg.get("id"))})
    else:
        message = 'control messages are JSON: {"type": "start"|"stop"|"cancel"|"played"|"ping", ...}'
        await send(ev.to_ws(ev.Error("bad_message", message)))


async def _played(session: RealtimeSession, msg: dict[str, Any], send: Send) -> None:
    """{"type": "played", "message_id", "index", "offset_s"}: how far the client played an answer."""
    message_id, index, offset = msg.get("message_id"), msg.get("index"), msg.get("offset_s")
    valid = (
        isinstance(message_id, str)
        and type(index) is int
        and 0 <= index < 10_000
        and isinstance(offset, int | float)
        and not isinstance(offset, bool)
        and 0 <= offset < 3600
    )
    if not valid:
        message = 'played is {"type": "played", "message_id": str, "index": int >= 0, "offset_s": seconds}'
        await send(ev.to_ws(ev.Error("bad_message", message)))
        return
    assert isinstance(message_id, str) and isinstance(index, int) and isinstance(offset, int | float)
    if await session.played(message_id, index, float(offset)) is None:
        await send(ev.to_ws(ev.Error("message_not_found", "no answer with that id in this session")))


def _str(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None
