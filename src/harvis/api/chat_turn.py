"""One streamed chat answer: router deltas out as SSE events, the final text and status saved.

The assistant row already exists (status "streaming"); this writes its end exactly once:
complete, error (partial text + error), or stopped (client left; upstream cancelled).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

import anyio

from harvis.api.housekeeping import HEARTBEAT_S
from harvis.api.metrics import LLM_STREAMS, LLM_TOKENS, LLM_TTFT
from harvis.api.sse import sse_event
from harvis.llm.types import ChatRequest, Delta, LLMError, StreamEnd
from harvis.store import chats
from harvis.store.db import Database

log = logging.getLogger(__name__)


@dataclass
class Turn:
    session_id: str
    user_message_id: str
    assistant_message_id: str
    request: ChatRequest
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    ttft_ms: float | None = None
    end: StreamEnd | None = None


def _ms(seconds: float) -> float:
    return round(seconds * 1000.0, 1)


async def _save(db: Database, turn: Turn, status: str, *, error: str | None, timings: dict[str, Any]) -> None:
    try:
        async with db.session() as session:
            await chats.finish_message(
                session,
                message_id=turn.assistant_message_id,
                # PostgreSQL text cannot hold NUL, and a model could emit one.
                content="".join(turn.content).replace("\x00", ""),
                reasoning="".join(turn.reasoning).replace("\x00", ""),
                status=status,
                error=error,
                model=turn.end.model if turn.end else None,
                served_by=turn.end.served_by if turn.end else None,
                timings=timings,
            )
            await session.commit()
    except Exception:  # the DB failing must not hide the answer's own outcome
        log.exception("could not save message %s as %s", turn.assistant_message_id, status)


async def _save_progress(db: Database, turn: Turn) -> None:
    try:
        async with db.session() as session:
            await chats.save_partial(
                session,
                message_id=turn.assistant_message_id,
                content="".join(turn.content).replace("\x00", ""),
                reasoning="".join(turn.reasoning).replace("\x00", ""),
            )
            await session.commit()
    except Exception:  # progress is best effort; the final save is what counts
        log.warning("could not save the progress of message %s", turn.assistant_message_id, exc_info=True)


async def stream_turn(db: Database, router: Any, turn: Turn) -> AsyncGenerator[bytes, None]:
    start = time.perf_counter()
    model = turn.request.model
    stream = router.stream_chat(turn.request)  # nothing runs until it is iterated
    finished = False
    last_save = start
    try:
        ids = {
            "session_id": turn.session_id,
            "user_message_id": turn.user_message_id,
            "assistant_message_id": turn.assistant_message_id,
        }
        yield sse_event("session", ids)
        try:
            async for item in stream:
                if isinstance(item, StreamEnd):
                    turn.end = item
                    continue
                if not isinstance(item, Delta) or not (item.content or item.reasoning):
                    continue
                if turn.ttft_ms is None:
                    turn.ttft_ms = _ms(time.perf_counter() - start)
                    LLM_TTFT.labels("chat", model).observe(turn.ttft_ms / 1000.0)
                if item.reasoning:
                    turn.reasoning.append(item.reasoning)
                    yield sse_event("reasoning", {"text": item.reasoning})
                if item.content:
                    turn.content.append(item.content)
                    yield sse_event("token", {"text": item.content})
                if time.perf_counter() - last_save >= HEARTBEAT_S:
                    last_save = time.perf_counter()
                    await _save_progress(db, turn)
        except LLMError as exc:
            finished = True
            timings = {"ttft_ms": turn.ttft_ms, "total_ms": _ms(time.perf_counter() - start)}
            await _save(db, turn, "error", error=exc.message, timings=timings)
            LLM_STREAMS.labels("chat", "error").inc()
            yield sse_event(
                "error", {"code": exc.code, "message": exc.message, "message_id": turn.assistant_message_id}
            )
            return
        except Exception:
            finished = True
            log.exception("chat stream failed")
            timings = {"ttft_ms": turn.ttft_ms, "total_ms": _ms(time.perf_counter() - start)}
            await _save(db, turn, "error", error="internal error", timings=timings)
            LLM_STREAMS.labels("chat", "error").inc()
            yield sse_event(
                "error",
                {
                    "code": "internal_error",
                    "message": "the server hit an internal error",
                    "message_id": turn.assistant_message_id,
                },
            )
            return
        finished = True
        end = turn.end
        timings = {"ttft_ms": turn.ttft_ms, "total_ms": _ms(time.perf_counter() - start)}
        await _save(db, turn, "complete", error=None, timings=timings)
        LLM_STREAMS.labels("chat", "complete").inc()
        if end is not None:
            LLM_TOKENS.labels(end.model).inc(end.completion_tokens)
        yield sse_event(
            "done",
            {
                "message_id": turn.assistant_message_id,
                "status": "complete",
                "served_by": end.served_by if end else None,
                "model": end.model if end else model,
                "fallback": bool(end and end.fallback),
                "timings": timings,
                "usage": {
                    "prompt_tokens": end.prompt_tokens if end else 0,
                    "completion_tokens": end.completion_tokens if end else 0,
                },
            },
        )
    finally:
        # Runs on normal end, on cancellation (client gone) and on generator close.
        with anyio.CancelScope(shield=True):
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
            if not finished:
                timings = {"ttft_ms": turn.ttft_ms, "total_ms": _ms(time.perf_counter() - start)}
                await _save(db, turn, "stopped", error=None, timings=timings)
                LLM_STREAMS.labels("chat", "stopped").inc()
