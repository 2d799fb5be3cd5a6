"""OpenAI's API as Ollama serves it at /v1: chat/completions, completions, models.

Each request is turned into the /api body it means and runs through the same job line;
only the wire format differs. Errors here use OpenAI's shape (app.py picks it by path).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from harvis.llm.node.bodies import read_json
from harvis.llm.node.chatout import shaped
from harvis.llm.node.jobs import NodeState, job_events
from harvis.llm.node.openai_wire import OpenAIWire
from harvis.llm.node.registry import ModelFile
from harvis.llm.node.requests import parse_job
from harvis.llm.node.responses import JobResponse
from harvis.llm.node.routes_generate import find_model
from harvis.llm.types import BadRequest, ModelNotFound, NoCapacity

router = APIRouter()
_OPTIONS = ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")


def _content(value: Any, i: int) -> tuple[str, bool]:
    """Text of a message's content (a string or parts) and whether it has images."""
    if value is None or isinstance(value, str):
        return value or "", False
    if not isinstance(value, list):
        raise BadRequest(f"invalid message at index {i}: content must be a string or an array of parts")
    texts, images = [], False
    for part in value:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image"):
            images = True
        else:
            raise BadRequest(f"invalid message at index {i}: unsupported content part {kind!r}")
    return "".join(texts), images


def _format(value: Any) -> str | dict[str, Any] | None:
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        if not isinstance(schema, dict):
            raise BadRequest("response_format.json_schema.schema must be a JSON schema object")
        return schema
    raise BadRequest(f"invalid response_format type {kind!r}")


def to_ollama(body: Any, kind: Literal["chat", "generate"]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("invalid request body: expected a JSON object")
    options: dict[str, Any] = {k: body[k] for k in _OPTIONS if body.get(k) is not None}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    if limit is not None:
        options["num_predict"] = limit
    if body.get("stop") is not None:
        options["stop"] = body["stop"]
    out: dict[str, Any] = {
        "model": body.get("model"),
        "stream": bool(body.get("stream", False)),
        "options": options,
        "format": _format(body.get("response_format")),
    }
    if kind == "generate":
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise BadRequest('"prompt" must be a string')
        return {**out, "prompt": prompt, "images": None}
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest('"messages" must be a non-empty array')
    converted = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise BadRequest(f"invalid message at index {i}: expected an object")
        text, images = _content(msg.get("content"), i)
        role = "system" if msg.get("role") == "developer" else msg.get("role")
        converted.append({**msg, "role": role, "content": text, "images": ["image"] if images else None})
    out["messages"] = converted
    if body.get("tool_choice") != "none":
        out["tools"] = body.get("tools")
    return out


async def _run(kind: Literal["chat", "generate"], request: Request) -> Response:
    arrived_ns = time.perf_counter_ns()
    state: NodeState = request.app.state.node
    body = await read_json(request)
    job = parse_job(kind, to_ollama(body, kind), state.default_keep_alive_s)
    model = await asyncio.to_thread(find_model, state, job)
    include_usage = bool(
        ((body.get("stream_options") or {}) if isinstance(body, dict) else {}).get("include_usage")
    )
    try:
        ticket = state.gate.admit()
    except NoCapacity:
        state.metrics.rejected.inc()
        raise
    return JobResponse(
        lambda: shaped(job_events(state, job, model, ticket, arrived_ns), job, model),
        on_close=ticket.drop,
        stream=job.stream,
        wire=OpenAIWire(job.model, kind, include_usage),
    )


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    return await _run("chat", request)


@router.post("/v1/completions")
async def completions(request: Request) -> Response:
    return await _run("generate", request)


def _model_entry(model: ModelFile) -> dict[str, Any]:
    return {
        "id": model.name,
        "object": "model",
        "created": int(model.modified_at.timestamp()),
        "owned_by": "library",
    }


@router.get("/v1/models")
async def models(request: Request) -> dict[str, Any]:
    state: NodeState = request.app.state.node
    found = await asyncio.to_thread(state.registry.list)
    return {"object": "list", "data": [_model_entry(m) for m in found]}


@router.get("/v1/models/{name:path}")
async def model(name: str, request: Request) -> dict[str, Any]:
    state: NodeState = request.app.state.node
    try:
        return _model_entry(await asyncio.to_thread(state.registry.get, name))
    except ModelNotFound:
        raise ModelNotFound(f'model "{name}" not found') from None
