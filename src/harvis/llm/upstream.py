"""What every upstream client (Ollama, OpenAI-compatible) yields to the router."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class ChatChunk:
    """One streamed piece from an upstream server, before reasoning is split off."""

    content: str = ""
    thinking: str = ""  # a separate reasoning field (Ollama `message.thinking`, OpenAI `reasoning_content`)
    done: bool = False
    done_reason: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
