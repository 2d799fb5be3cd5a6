"""Run one chat/generate job: wait for the slot, load, generate in a worker thread.

``job_events`` yields text pieces (str) and, last, the final fields (dict). Closing it
early (client gone) sets the cancel flag and waits for the worker thread to stop before
the slot is given back, so two generations never share one llama.cpp context.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import anyio

from harvis.llm.node.gate import Gate, Ticket
from harvis.llm.node.metrics import NodeMetrics
from harvis.llm.node.registry import ModelFile, ModelRegistry
from harvis.llm.node.requests import Job
from harvis.llm.node.residency import Residency
from harvis.llm.node.runtime import GenStats, LlamaRuntime

log = logging.getLogger(__name__)


@dataclass
class NodeState:
    """Everything the routes share; built once per app."""

    registry: ModelRegistry
    residency: Residency
    gate: Gate
    metrics: NodeMetrics
    default_keep_alive_s: float | None
    preloading: set[str] = field(default_factory=set)  # names still loading at start-up


async def preload(state: NodeState, names: list[str]) -> None:
    """Load models at start-up, through the same line as requests (never beside a generation).

    The caller puts ``names`` into ``state.preloading`` first, so readiness is right at once."""
    for name in names:
        try:
            model = await asyncio.to_thread(state.registry.get, name)
            async with state.gate.admit():
                res, _ = await state.residency.acquire(model, None)
                state.residency.release(res, state.default_keep_alive_s)
        except Exception:  # the node still serves what it can; the log says why
            log.exception("preloading %s failed", name)
        finally:
            state.preloading.discard(name)


async def job_events(
    state: NodeState, job: Job, model: ModelFile, ticket: Ticket, arrived_ns: int
) -> AsyncGenerator[str | dict[str, Any], None]:
    async with ticket:
        res, load_s = await state.residency.acquire(model, job.num_ctx)
        try:
            if job.load_only:
                yield {"done_reason": "load"}
                return
            stats = GenStats()
            first = True
            # aclosing: when this generator is closed early, the inner one must stop its thread now.
            async with aclosing(_generate(res.runtime, job, stats, state.metrics, model.name)) as gen:
                async for piece in gen:
                    if first:
                        first = False
                        state.metrics.ttft_seconds.labels(model.name).observe(
                            (time.perf_counter_ns() - arrived_ns) / 1e9
                        )
                    yield piece
            yield {
                "done_reason": stats.done_reason,
                "total_duration": time.perf_counter_ns() - arrived_ns,
                "load_duration": int(load_s * 1e9),
                "prompt_eval_count": stats.prompt_eval_count,
                "prompt_eval_duration": stats.prompt_eval_ns,
                "eval_count": stats.eval_count,
                "eval_duration": stats.eval_ns,
                "context": stats.tokens,
            }
        finally:
            state.residency.release(res, job.keep_alive_s)


async def _generate(
    runtime: LlamaRuntime, job: Job, stats: GenStats, metrics: NodeMetrics, model: str
) -> AsyncGenerator[str, None]:
    """Bridge the blocking token loop to the event loop, one queue item per text piece."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    cancel = threading.Event()

    def emit(text: str) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, text)

    def work() -> GenStats:
        try:
            # Prompt building runs here too: one thread hop per request, not one per step.
            renders = runtime.renders
            try:
                tokens = runtime.prompt_tokens(job)
            finally:
                metrics.prompt_renders.labels(model).inc(runtime.renders - renders)
            return runtime.generate(job, tokens, cancel, emit)
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    task = asyncio.ensure_future(asyncio.to_thread(work))
    try:
        while (piece := await queue.get()) is not None:
            yield piece
    finally:
        if not task.done():
            cancel.set()
        # Shielded: even when this request is being cancelled, the slot must not be
        # released while the worker still uses the model (it stops within one token).
        with anyio.CancelScope(shield=True):
            result = await task
        stats.__dict__.update(result.__dict__)
        metrics.generations.labels(model, result.done_reason).inc()
        metrics.tokens.labels(model, "prompt").inc(result.prompt_eval_count)
        metrics.tokens.labels(model, "completion").inc(result.eval_count)
        if result.done_reason == "cancelled":
            log.info("generation cancelled after %d tokens (client gone)", result.eval_count)
        else:
            rate = result.eval_count / (result.eval_ns / 1e9) if result.eval_ns else 0.0
            log.info(
                "%s %s: %d prompt tokens in %.0f ms, %d tokens at %.1f tok/s, %s",
                job.kind,
                model,
                result.prompt_eval_count,
                result.prompt_eval_ns / 1e6,
                result.eval_count,
                rate,
                result.done_reason,
            )
