"""What every upstream client (Ollama, OpenAI-compatible) yields to the router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(slots=True)
class ChatChunk:
    """One streamed piece from an upstream server, before reasoning is split off."""

    content: str = ""
    thinking: str = ""  # a separate reasoning field (Ollama `message.thinking`, OpenAI `reasoning_content`)
    done: bool = False
    done_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatBackend(Protocol):
    """The one call the router needs from a client; errors are LLMError subclasses."""

    base_url: str

    def stream_chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        *,
        options: dict[str, Any] | None = None,
        keep_alive: str | int | None = None,
        format: str | None = None,
        first_byte_timeout_s: float | None = None,
    ) -> AsyncIterator[ChatChunk]: ...

    async def aclose(self) -> None: ...
