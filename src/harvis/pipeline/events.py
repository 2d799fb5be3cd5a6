"""What a turn emits, in order. Each event knows its wire name and JSON payload.

A text chat and a voice turn emit the same events (a text chat has no transcript, audio or
filler); an answer that uses tools adds tool_call / tool_result (and tool_notice) events.
They go out as Server-Sent Events (``event: NAME``) on POST /api/chat and POST /api/voice/turn,
and as JSON objects (``{"type": NAME, ...}``) on the realtime WebSocket.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SessionStarted:
    session_id: str
    user_message_id: str
    assistant_message_id: str
    name = "session"

    def payload(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "user_message_id": self.user_message_id,
            "assistant_message_id": self.assistant_message_id,
        }


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None
    name = "transcript"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "language": self.language}


@dataclass(frozen=True)
class Reasoning:
    text: str
    name = "reasoning"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class Token:
    text: str
    name = "token"

    def payload(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class AudioOut:
    """One piece of spoken answer: a WAV file, in clause order (`index` counts from 0)."""

    index: int
    sample_rate: int
    wav: bytes = field(repr=False)
    text: str = ""  # the clause it speaks
    duration_s: float = 0.0
    name = "audio"

    def payload(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "sample_rate": self.sample_rate,
            "format": "wav",
            "text": self.text,
            "data": base64.b64encode(self.wav).decode("ascii"),
        }


@dataclass(frozen=True)
class Filler:
    """Spoken while the LLM has not answered yet; not part of the answer's audio order."""

    text: str
    sample_rate: int
    wav: bytes = field(repr=False)
    duration_s: float = 0.0
    name = "filler"

    def payload(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "sample_rate": self.sample_rate,
            "format": "wav",
            "data": base64.b64encode(self.wav).decode("ascii"),
        }


@dataclass(frozen=True)
class Fallback:
    """The router answered with another model group than the one asked for."""

    requested: str
    model: str
    served_by: str
    name = "fallback"

    def payload(self) -> dict[str, Any]:
        return {"requested": self.requested, "model": self.model, "served_by": self.served_by}


@dataclass(frozen=True)
class ToolCallStarted:
    """The model called a tool; `round` counts tool rounds from 1, `index` the calls in it."""

    round: int
    index: int
    tool: str
    arguments: dict[str, Any]
    name = "tool_call"

    def payload(self) -> dict[str, Any]:
        return {"round": self.round, "index": self.index, "name": self.tool, "arguments": self.arguments}


@dataclass(frozen=True)
class ToolResult:
    """What the tool answered (or what went wrong: ok false), as the model is told it."""

    round: int
    index: int
    tool: str
    result: str
    ok: bool
    ms: float
    name = "tool_result"

    def payload(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "index": self.index,
            "name": self.tool,
            "result": self.result,
            "ok": self.ok,
            "ms": self.ms,
        }


@dataclass(frozen=True)
class ToolNotice:
    """The tools could not be used as asked: `tools_unsupported` (the model has no tool
    support: answered without tools) or `tool_rounds_exhausted` (answered without more)."""

    code: str
    message: str
    name = "tool_notice"

    def payload(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class Done:
    message_id: str
    status: str  # complete | stopped (text) | interrupted (voice)
    served_by: str | None
    model: str
    fallback: bool
    timings: dict[str, float | None]
    usage: dict[str, int]
    name = "done"

    def payload(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "status": self.status,
            "served_by": self.served_by,
            "model": self.model,
            "fallback": self.fallback,
            "timings": self.timings,
            "usage": self.usage,
        }


@dataclass(frozen=True)
class Error:
    code: str
    message: str
    message_id: str | None = None
    retry_after: float | None = None  # seconds, when the LLM was busy (no_capacity)
    name = "error"

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "message_id": self.message_id}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


TurnEvent = (
    SessionStarted
    | Transcript
    | Reasoning
    | Token
    | AudioOut
    | Filler
    | Fallback
    | ToolCallStarted
    | ToolResult
    | ToolNotice
    | Done
    | Error
)


def to_sse(event: TurnEvent) -> str:
    return f"event: {event.name}\ndata: {json.dumps(event.payload(), separators=(',', ':'))}\n\n"


def to_ws(event: TurnEvent) -> dict[str, Any]:
    return {"type": event.name, **event.payload()}
