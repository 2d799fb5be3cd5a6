"""What the chat and voice endpoints share: a turn's events as SSE, and its metrics."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable

from harvis.api.metrics import LLM_STREAMS, LLM_TOKENS, LLM_TTFT
from harvis.pipeline import events as ev
from harvis.pipeline.observe import observe_turn
from harvis.pipeline.turn import Turn


async def sse(events: AsyncIterator[ev.TurnEvent]) -> AsyncGenerator[bytes, None]:
    try:
        async for event in events:
            yield ev.to_sse(event).encode()
    finally:
        await events.aclose()  # type: ignore[attr-defined]


def observer(channel: str) -> Callable[[Turn], None]:
    """Counts a finished turn: `chat` for text, `turn`/`ws` for voice."""
    api = "chat" if channel == "chat" else "voice"

    def observe(turn: Turn) -> None:
        if api == "voice":
            observe_turn(channel, turn.status, turn.timings)
        LLM_STREAMS.labels(api, turn.status).inc()
        ttft_ms = turn.timings.get("llm_ttft_ms")
        if ttft_ms is not None:
            LLM_TTFT.labels(api, turn.options.model).observe(ttft_ms / 1000)
        if turn.end is not None:
            LLM_TOKENS.labels(turn.end.model).inc(turn.end.completion_tokens)

    return observe
