"""Reading request bodies the way Ollama answers bad ones: 400 with {"error": "..."}."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from harvis.llm.types import BadRequest, LLMError

MAX_BODY_BYTES = 32 * 1024 * 1024  # a chat history, never a file upload


class BodyTooLarge(LLMError):
    status = 413
    code = "too_large"


async def read_json(request: Request) -> Any:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge("request body too large")
    chunks: list[bytes] = []
    size = 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge("request body too large")
        chunks.append(part)
    raw = b"".join(chunks)
    if not raw.strip():
        raise BadRequest("missing request body")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None
