"""POST /api/chat and /api/generate: validate, find the model, take a place in line, stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from harvis.llm.node.bodies import read_json
from harvis.llm.node.chatout import check_capabilities, shaped
from harvis.llm.node.jobs import NodeState, job_events
from harvis.llm.node.registry import ModelFile
from harvis.llm.node.requests import Job, parse_job
from harvis.llm.node.responses import JobResponse, final_chunk
from harvis.llm.types import BadRequest, NoCapacity

router = APIRouter()


def check_format(fmt: str | dict[str, Any] | None) -> None:
    """A JSON schema llama.cpp cannot turn into a grammar is the client's mistake: 400."""
    if not isinstance(fmt, dict):
        return
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        json_schema_to_gbnf(json.dumps(fmt))
    except Exception as exc:  # any converter failure means an unusable schema
        raise BadRequest(f"invalid format schema: {exc}") from None


def find_model(state: NodeState, job: Job) -> ModelFile:
    """Both checks that may touch the disk, in one worker-thread hop."""
    model: ModelFile = state.registry.get(job.model)
    check_format(job.format)
    check_capabilities(job, model)
    return model


async def _handle(kind: Literal["chat", "generate"], request: Request) -> Response:
    arrived_ns = time.perf_counter_ns()
    state: NodeState = request.app.state.node
    job = parse_job(kind, await read_json(request), state.default_keep_alive_s)
    model = await asyncio.to_thread(find_model, state, job)
    if job.load_only and job.keep_alive_s == 0:
        await state.residency.unload(model.name)
        return JSONResponse(final_chunk(kind, job.model, "", {"done_reason": "unload"}))
    try:
        ticket = state.gate.admit()
    except NoCapacity:
        state.metrics.rejected.inc()
        raise
    return JobResponse(
        lambda: shaped(job_events(state, job, model, ticket, arrived_ns), job, model),
        on_close=ticket.drop,
        kind=kind,
        model=job.model,
        stream=job.stream,
    )


@router.post("/api/chat")
async def chat(request: Request) -> Response:
    return await _handle("chat", request)


@router.post("/api/generate")
async def generate(request: Request) -> Response:
    return await _handle("generate", request)
