"""What every upstream client (Ollama, OpenAI-compatible) yields to the router, and the
limits both apply while reading a stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

import httpx

from harvis.llm.types import ToolCall, UpstreamError, UpstreamTimeout


@dataclass(slots=True)
class ChatChunk:
    """One streamed piece from an upstream server, before reasoning is split off."""

    content: str = ""
    thinking: str = ""  # a separate reasoning field (Ollama `message.thinking`, OpenAI `reasoning_content`)
    done: bool = False
    done_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_calls: tuple[ToolCall, ...] = field(default=())


async def lines_within_limits(
    response: httpx.Response,
    *,
    base_url: str,
    first_deadline: float,
    first_limit: float,
    chunk_limit: float,
    counts: Callable[[str], bool],
    ended: str,
) -> AsyncGenerator[str, None]:
    """The response's lines that `counts`, the first by `first_deadline` (loop time), each later
    one within `chunk_limit` seconds: httpx has one read timeout where we need two."""
    loop = asyncio.get_running_loop()
    lines = response.aiter_lines()
    got_first = False
    while True:
        deadline = loop.time() + chunk_limit if got_first else first_deadline
        try:
            async with asyncio.timeout_at(deadline):
                line = await anext(lines)
        except StopAsyncIteration:
            raise UpstreamError(f"{base_url}: {ended}") from None
        except TimeoutError:
            what, limit = ("next chunk", chunk_limit) if got_first else ("first chunk", first_limit)
            raise UpstreamTimeout(f"{base_url}: no {what} within {limit:g}s") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{base_url}: stream failed: {exc!r}") from exc
        if counts(line):
            got_first = True
            yield line
