"""OpenAI Realtime's wire shapes: the session a client configures, the events the server sends.

Current (GA) names and shapes are the default. Clients of the beta API (the `OpenAI-Beta:
realtime=v1` header or subprotocol) configure the session in its flat shape and get the beta
names for the events that were renamed (`response.audio.delta` for
`response.output_audio.delta`, …). Both shapes of `session.update` are accepted from anyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from harvis.errors import BadInput

RATE = 24_000  # what Realtime clients send and play: PCM16 mono at 24 kHz
BETA_NAMES = {
    "response.output_audio.delta": "response.audio.delta",
    "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "response.output_text.delta": "response.text.delta",
    "response.output_text.done": "response.text.done",
    "conversation.item.added": "conversation.item.created",
}
GA_ONLY = {"conversation.item.done"}  # no beta counterpart: not sent to beta clients


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class ServerVad:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True

    def wire(self) -> dict[str, Any]:
        return {
            "type": "server_vad",
            "threshold": self.threshold,
            "prefix_padding_ms": self.prefix_padding_ms,
            "silence_duration_ms": self.silence_duration_ms,
            "create_response": self.create_response,
            "interrupt_response": self.interrupt_response,
        }


@dataclass(frozen=True)
class SessionConfig:
    model: str
    instructions: str
    voice: str = "alloy"
    audio_out: bool = True  # output_modalities ["audio"] (with its transcript) or ["text"]
    turn_detection: ServerVad | None = field(default_factory=ServerVad)
    transcription: dict[str, Any] | None = None  # None: no input transcription events
    max_output_tokens: int | None = None


def _format(value: Any, where: str) -> None:
    """pcm16 at 24 kHz only: other formats are refused, never silently misread."""
    if value is None:
        return
    if isinstance(value, str):
        if value != "pcm16":
            raise BadInput(
                f"{where}: only pcm16 audio is supported, not {value!r}", code="unsupported_format"
            )
        return
    if not isinstance(value, dict) or value.get("type", "audio/pcm") != "audio/pcm":
        raise BadInput(f"{where}: only audio/pcm is supported", code="unsupported_format")
    if value.get("rate", RATE) != RATE:
        raise BadInput(f"{where}: audio/pcm is 24000 Hz only", code="unsupported_format")


def _turn_detection(value: Any, current: ServerVad | None) -> ServerVad | None:
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("type", "server_vad") != "server_vad":
        kind = value.get("type") if isinstance(value, dict) else value
        raise BadInput(
            f"turn_detection {kind!r} is not supported: use server_vad or null", code="unsupported"
        )
    base = current or ServerVad()
    vad = replace(
        base,
        threshold=float(value.get("threshold", base.threshold)),
        prefix_padding_ms=int(value.get("prefix_padding_ms", base.prefix_padding_ms)),
        silence_duration_ms=int(value.get("silence_duration_ms", base.silence_duration_ms)),
        create_response=bool(value.get("create_response", base.create_response)),
        interrupt_response=bool(value.get("interrupt_response", base.interrupt_response)),
    )
    if not 0.0 < vad.threshold < 1.0 or not 0 <= vad.prefix_padding_ms <= 5000:
        raise BadInput(
            "turn_detection: threshold is in (0, 1), prefix_padding_ms in 0–5000", code="invalid_value"
        )
    if not 32 <= vad.silence_duration_ms <= 10_000:
        raise BadInput("turn_detection: silence_duration_ms is in 32–10000", code="invalid_value")
    return vad


def _modalities(value: Any) -> bool:
    if not isinstance(value, list) or not value or not {"text", "audio"} >= set(value):
        raise BadInput('output modalities are ["audio"] or ["text"]', code="invalid_value")
    return "audio" in value


def apply_update(config: SessionConfig, session: Any) -> SessionConfig:
    """`session.update`'s `session`, in the GA shape (audio.input/output) or the beta one."""
    if not isinstance(session, dict):
        raise BadInput("session.update needs a session object", code="invalid_value")
    changes: dict[str, Any] = {}
    if isinstance(session.get("instructions"), str):
        changes["instructions"] = session["instructions"]
    for key in ("output_modalities", "modalities"):
        if key in session:
            changes["audio_out"] = _modalities(session[key])
    if "max_output_tokens" in session or "max_response_output_tokens" in session:
        tokens = session.get("max_output_tokens", session.get("max_response_output_tokens"))
        changes["max_output_tokens"] = None if tokens in (None, "inf") else int(tokens)
    audio: dict[str, Any] = session["audio"] if isinstance(session.get("audio"), dict) else {}
    audio_in: dict[str, Any] = audio["input"] if isinstance(audio.get("input"), dict) else {}
    audio_out: dict[str, Any] = audio["output"] if isinstance(audio.get("output"), dict) else {}
    _format(audio_in.get("format", session.get("input_audio_format")), "input audio")
    _format(audio_out.get("format", session.get("output_audio_format")), "output audio")
    voice = audio_out.get("voice", session.get("voice"))
    if voice is not None:
        changes["voice"] = voice if isinstance(voice, str) else str(voice.get("id", ""))
    for source, key in ((audio_in, "turn_detection"), (session, "turn_detection")):
        if key in source:
            changes["turn_detection"] = _turn_detection(source[key], config.turn_detection)
            break
    for source, key in ((audio_in, "transcription"), (session, "input_audio_transcription")):
        if key in source:
            value = source[key]
            changes["transcription"] = dict(value) if isinstance(value, dict) else None
            break
    return replace(config, **changes)


def render(config: SessionConfig, session_id: str, *, beta: bool) -> dict[str, Any]:
    """The session as `session.created` / `session.updated` show it."""
    vad = config.turn_detection.wire() if config.turn_detection else None
    modalities = ["audio"] if config.audio_out else ["text"]
    tokens: Any = config.max_output_tokens or "inf"
    if beta:
        return {
            "id": session_id,
            "object": "realtime.session",
            "model": config.model,
            "modalities": ["audio", "text"] if config.audio_out else ["text"],
            "instructions": config.instructions,
            "voice": config.voice,
            "input_audio_format": "pcm16",
            "output_audio_format": "pcm16",
            "input_audio_transcription": config.transcription,
            "turn_detection": vad,
            "max_response_output_tokens": tokens,
        }
    pcm = {"type": "audio/pcm", "rate": RATE}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": session_id,
        "model": config.model,
        "output_modalities": modalities,
        "instructions": config.instructions,
        "max_output_tokens": tokens,
        "audio": {
            "input": {"format": pcm, "transcription": config.transcription, "turn_detection": vad},
            "output": {"format": pcm, "voice": config.voice},
        },
    }


def error_event(code: str, message: str, *, status: int = 400, event_id: str | None = None) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    error = {"type": kind, "code": code, "message": message, "param": None, "event_id": event_id}
    return {"type": "error", "error": error}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "total_tokens": prompt_tokens + completion_tokens,
        "input_tokens": prompt_tokens,
        "output_tokens": completion_tokens,
        "input_token_details": {"text_tokens": prompt_tokens, "audio_tokens": 0, "cached_tokens": 0},
        "output_token_details": {"text_tokens": completion_tokens, "audio_tokens": 0},
    }


def user_item(item_id: str, *, text: str | None = None, transcript: str | None = None) -> dict[str, Any]:
    part = (
        {"type": "input_text", "text": text}
        if text is not None
        else {"type": "input_audio", "transcript": transcript}
    )
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "user",
        "status": "completed",
        "content": [part],
    }


def assistant_item(item_id: str, *, audio: bool, text: str, status: str) -> dict[str, Any]:
    part = {"type": "output_audio", "transcript": text} if audio else {"type": "output_text", "text": text}
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [part] if text or status != "in_progress" else [],
    }
