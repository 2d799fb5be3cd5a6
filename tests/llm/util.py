"""Small helpers shared by the LLM-layer tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from harvis.llm.router import Router
from harvis.llm.types import ChatRequest, Delta, StreamEnd


async def until(predicate: Callable[[], object], limit_s: float = 10.0, what: str = "condition") -> None:
    """Poll (never sleep-to-sync) until predicate() is true; bounded in time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {limit_s}s")
        await asyncio.sleep(0.01)


async def chat(router: Router, model: str, text: str = "hi", **kw: Any) -> tuple[str, str, StreamEnd]:
    """Run one routed chat to its end: (content, reasoning, StreamEnd)."""
    content, reasoning = [], []
    end: StreamEnd | None = None
    async for item in router.stream_chat(ChatRequest(model, [{"role": "user", "content": text}], **kw)):
        if isinstance(item, Delta):
            assert end is None, "a Delta after StreamEnd"
            content.append(item.content)
            reasoning.append(item.reasoning)
        else:
            end = item
    assert end is not None, "stream ended without StreamEnd"
    return "".join(content), "".join(reasoning), end
