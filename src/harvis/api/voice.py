"""Voice conversation endpoints: POST /api/voice/turn (SSE) and WS /api/voice/ws (realtime).

Both save the exchange in a chat session (kind "voice"): the transcript before the LLM is
called, the answer when the turn ends (interrupted answers cut to what was spoken).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile, WebSocket, WebSocketDisconnect
from starlette.datastructures import State

from harvis.api.deps import AppState, CurrentUser, DbSession, credential_from, user_for_credential
from harvis.api.errors import ApiError
from harvis.api.metrics import LLM_STREAMS, LLM_TTFT
from harvis.api.sse import EventStreamResponse
from harvis.pipeline import events as ev
from harvis.pipeline.filler import Warmer
from harvis.pipeline.observe import observe_turn
from harvis.pipeline.recorder import DbRecorder
from harvis.pipeline.turn import TurnOptions, VoiceTurn
from harvis.store import chats

router = APIRouter(tags=["voice"])
log = logging.getLogger(__name__)
MAX_FRAME_BYTES = 64 * 1024  # one WS audio message: 2 s of 16 kHz PCM16 at most


def _services(state: State) -> tuple[Any, Any]:
    if getattr(state, "speech", None) is None:
        raise ApiError(503, "speech_unavailable", "speech services are not running on this server")
    if getattr(state, "router", None) is None:
        raise ApiError(503, "llm_unavailable", "no language model router is running")
    return state.speech, state.router


_PREWARMS: set[asyncio.Task[Any]] = set()


def _prewarm_tts(speech: Any) -> None:
    ensure = getattr(speech, "ensure_tts", None)
    if ensure is None:
        return
    task = asyncio.create_task(ensure())
    _PREWARMS.add(task)
    # A failed load shows up in the turn itself (tts_failed) and in /api/models/speech.
    task.add_done_callback(_prewarm_done)


def _prewarm_done(task: asyncio.Task[Any]) -> None:
    _PREWARMS.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as forgotten


def _warmer(state: State) -> Warmer:
    warmer = getattr(state, "voice_warmer", None)
    if warmer is None:
        warmer = state.voice_warmer = Warmer(state.router, state.settings.llm.voice_keep_alive)
    return warmer


async def _options(state: State, db: Any, user_id: str, *, session_id: str | None, model: str | None,
                   voice: str | None, language: str | None) -> TurnOptions:
    """Validate what a turn asks for (session ownership, voice) before anything streams."""
    speech, llm = _services(state)
    chat_model = None
    if session_id:
        chat = await chats.get_session(db, user_id=user_id, session_id=session_id)
        if chat is None:
            raise ApiError(404, "session_not_found", "no such session")
        chat_model = chat.model
    from harvis.speech.service import VoiceNotFound

    try:
        voice_ref = await speech.voice_for(user_id, voice or None, db)
    except VoiceNotFound as exc:
        raise ApiError(404, "voice_not_found", str(exc)) from None
    return TurnOptions(model=model or chat_model or llm.default_model, voice=voice_ref,
                       language=language or None, keep_alive=state.settings.llm.voice_keep_alive)


@router.post("/api/voice/turn", response_class=EventStreamResponse, responses={200: {
    "content": {"text/event-stream": {}},
    "description": "events: session, transcript, reasoning, token, audio, filler, fallback, done | error"}})
async def voice_turn(
    user: CurrentUser, db: DbSession, state: AppState,
    audio: Annotated[UploadFile, File(description="the question: WebM/Opus, WAV, MP3, OGG…")],
    session_id: Annotated[str | None, Form(max_length=64)] = None,
    model: Annotated[str | None, Form(max_length=200)] = None,
    voice: Annotated[str | None, Form(max_length=64)] = None,
    language: Annotated[str | None, Form(max_length=8)] = None,
) -> EventStreamResponse:
    settings = state.settings
    limit = settings.speech.max_upload_mb * 1024 * 1024
    data = await audio.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"the audio is larger than {settings.speech.max_upload_mb} MB")
    options = await _options(state, db, user.id, session_id=session_id, model=model, voice=voice,
                             language=language)
    speech, llm = _services(state)
    _warmer(state).warm(options.model)  # a cold model loads while the audio is decoded and heard
    _prewarm_tts(speech)  # likewise the TTS engine, when it was not preloaded
    turn = VoiceTurn(speech=speech, llm=llm, recorder=DbRecorder(state.db, user_id=user.id,
                                                                 session_id=session_id),
                     settings=settings.pipeline, options=options, max_audio_s=settings.speech.max_audio_s,
                     on_end=_observer("turn"))
    from harvis.speech.audio import AudioError

    try:
        decoded = await turn.decode(data)
    except AudioError as exc:
        raise ApiError(exc.status, exc.code, exc.message) from None
    return EventStreamResponse(_sse(turn, decoded))


def _observer(channel: str) -> Callable[[VoiceTurn], None]:
    def observe(turn: VoiceTurn) -> None:
        observe_turn(channel, turn.status, turn.timings)
        LLM_STREAMS.labels("voice", turn.status).inc()
        ttft_ms = turn.timings.get("llm_ttft_ms")
        if ttft_ms is not None:
            LLM_TTFT.labels("voice", turn.options.model).observe(ttft_ms / 1000)

    return observe


async def _sse(turn: VoiceTurn, audio: Any) -> AsyncGenerator[bytes, None]:
    events = turn.events(audio)
    try:
        async for event in events:
            yield ev.to_sse(event).encode()
    finally:
        await events.aclose()  # type: ignore[attr-defined]


# ---- realtime


async def _ws_user(ws: WebSocket, state: State) -> Any | None:
    token = ws.query_params.get("token") or credential_from(ws)  # type: ignore[arg-type]
    if not token:
        return None
    async with state.db.session() as db:
        return await user_for_credential(db, token, state.secret)


def _same_origin(ws: WebSocket, state: State) -> bool:
    """Browsers send Origin on WebSocket handshakes; a foreign page must not ride the cookie."""
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser
    allowed = {o.strip() for o in state.settings.auth.cors_origins.split(",") if o.strip()}
    host = ws.headers.get("host", "")
    return origin in allowed or origin.split("://", 1)[-1] == host


@router.websocket("/api/voice/ws")
async def voice_ws(ws: WebSocket) -> None:
    state: State = ws.app.state
    await ws.accept()
    send_lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with send_lock:
            await ws.send_json(message)

    user = await _ws_user(ws, state) if _same_origin(ws, state) else None
    if user is None:
        await send(ev.to_ws(ev.Error("unauthorized", "sign in first (session cookie or ?token=)")))
        await ws.close(code=4401)
        return
    try:
        speech, llm = _services(state)
    except ApiError as exc:
        await send(ev.to_ws(ev.Error(exc.code, exc.message)))
        await ws.close(code=1011)
        return
    from harvis.pipeline.endpointing import SileroStream
    from harvis.pipeline.realtime import RealtimeSession

    vad = await asyncio.to_thread(SileroStream)
    session = RealtimeSession(
        speech=speech, llm=llm, settings=state.settings.pipeline, send=send, vad=vad.windows,
        warmer=_warmer(state), on_end=_observer("ws"),
        recorder_for=lambda sid: DbRecorder(state.db, user_id=user.id, session_id=sid))
    await send({"type": "ready", "sample_rate": 16000, "format": "pcm16"})
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("bytes") is not None:
                await _audio(session, message["bytes"], send)
            elif message.get("text") is not None:
                await _control(session, message["text"], state, user.id, send)
    except WebSocketDisconnect:
        pass
    finally:
        await session.close()


async def _audio(session: Any, data: bytes, send: Any) -> None:
    if len(data) > MAX_FRAME_BYTES or len(data) % 2:
        await send(ev.to_ws(ev.Error("bad_audio_frame", "audio frames are 16 kHz mono PCM16, at most "
                                     f"{MAX_FRAME_BYTES} bytes")))
        return
    await session.audio(data)


async def _control(session: Any, text: str, state: State, user_id: str, send: Any) -> None:
    try:
        msg = json.loads(text)
        kind = msg["type"] if isinstance(msg, dict) else None
    except (ValueError, KeyError):
        kind = None
    if kind == "start":
        try:
            async with state.db.session() as db:
                options = await _options(state, db, user_id, session_id=_str(msg.get("session_id")),
                                         model=_str(msg.get("model")), voice=_str(msg.get("voice")),
                                         language=_str(msg.get("language")))
        except ApiError as exc:
            await send(ev.to_ws(ev.Error(exc.code, exc.message)))
            return
        await session.start(options, _str(msg.get("session_id")))
    elif kind == "stop":
        await session.stop()
    elif kind == "cancel":
        await session.interrupt()
    else:
        await send(ev.to_ws(ev.Error("bad_message", 'control messages are JSON: {"type": "start"|"stop"|'
                                     '"cancel", ...}')))


def _str(value: Any) -> str | None:
    return value[:200] if isinstance(value, str) and value else None
