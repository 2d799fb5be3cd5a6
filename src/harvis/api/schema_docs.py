"""What the OpenAPI schema says about answers, made from the code that produces them: the
error shape every route can answer with, Server-Sent Events built by the same serializer the
routes use (so the documented events cannot drift from the sent ones), and audio bodies."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from harvis.api.sse import sse_data
from harvis.pipeline import events as ev
from harvis.speech.encode import MEDIA_TYPES


class ErrorDetail(BaseModel):
    code: str
    message: str
    type: str | None = None  # under /v1 (OpenAI's shape)
    param: str | None = None


class ErrorOut(BaseModel):
    error: ErrorDetail


Responses = dict[int | str, dict[str, Any]]
# One Server-Sent Event as clients parse it: a name (absent for /v1's unnamed events) and its
# data line (JSON, or [DONE]); the example below shows what each name carries.
SSE_EVENT = {
    "type": "object",
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
    "required": ["data"],
}

_ERRORS = {
    400: "Bad input (malformed JSON, unusable audio, limits)",
    401: "No valid credential",
    403: "Not allowed for this account or credential",
    404: "No such thing, or not yours",
    409: "Conflicts with what exists (a taken name, a full quota)",
    413: "The body is larger than the limit",
    415: "Unsupported media type",
    422: "A field is invalid",
    429: "Too many requests; see Retry-After",
    503: "Not ready or overloaded; see Retry-After",
}
ERROR_RESPONSES: Responses = {
    status: {"model": ErrorOut, "description": text} for status, text in _ERRORS.items()
}

_CHAT_EVENTS: list[ev.TurnEvent] = [
    ev.SessionStarted("3f2a0c", "9c1b7e", "7d4e5a"),
    ev.Reasoning("The user greets me."),
    ev.Token("Hello"),
    ev.Fallback("big-model", "small-model", "node-1"),
    ev.ToolCallStarted(1, 0, "calculate", {"expression": "12*34"}),
    ev.ToolResult(1, 0, "calculate", "12*34 = 408", True, 0.4),
    ev.ToolNotice("tools_unsupported", "small-model cannot use tools; it answers without them."),
    ev.Done(
        "7d4e5a", "complete", "node-1", "small-model", True, {"llm_ttft_ms": 120.0}, {"prompt_tokens": 9}
    ),
    ev.Error("no_capacity", "every node is busy", "7d4e5a", 5.0),
]
_VOICE_EVENTS: list[ev.TurnEvent] = [
    *_CHAT_EVENTS[:1],
    ev.Transcript("hello there", "en"),
    ev.Filler("Let me see.", 22_050, b"RIFF"),
    *_CHAT_EVENTS[1:3],
    ev.AudioOut(0, 22_050, b"RIFF", "Hello"),
    *_CHAT_EVENTS[3:],
]


def _events_response(events: list[ev.TurnEvent]) -> dict[str, Any]:
    names = ", ".join(dict.fromkeys(e.name for e in events))
    return {
        "description": f"Server-Sent Events, each `event: <name>` and a JSON `data:` line: {names}. "
        "The stream ends after `done` or `error`.",
        "content": {
            "text/event-stream": {
                "schema": SSE_EVENT,
                "example": "".join(ev.to_sse(e) for e in events),
            }
        },
    }


CHAT_STREAM: Responses = {200: _events_response(_CHAT_EVENTS)}
VOICE_STREAM: Responses = {200: _events_response(_VOICE_EVENTS)}

_COMPLETION_CHUNK = {
    "id": "chatcmpl-5e0f",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "smollm2:135m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}],
}
COMPLETIONS: Responses = {
    200: {
        "description": "A chat.completion object, or with `stream: true` OpenAI's data-only "
        "Server-Sent Events of chat.completion.chunk objects ending with `data: [DONE]`.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {
                "schema": SSE_EVENT,
                "example": (sse_data(_COMPLETION_CHUNK) + sse_data("[DONE]")).decode(),
            },
        },
    }
}
_BINARY = {"type": "string", "format": "binary"}
SPEECH: Responses = {
    200: {
        "description": "The spoken input, streamed, in `response_format`'s audio type.",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()
        },
    }
}


def example_events(example: str) -> list[tuple[str, dict[str, Any]]]:
    """Parses an event-stream example back into (name, data): for checking the schema."""
    out = []
    for block in example.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def install(app: FastAPI) -> None:
    """FastAPI files a streaming route's error answers under its stream's media type; they are
    JSON (api/errors.py), so the schema says so."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for ops in schema.get("paths", {}).values():
                for op in ops.values():
                    for status in _ERRORS:
                        content = op.get("responses", {}).get(str(status), {}).get("content")
                        if content and "application/json" not in content:
                            op["responses"][str(status)]["content"] = {
                                "application/json": next(iter(content.values()))
                            }
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]
