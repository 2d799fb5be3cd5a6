"""The small interfaces a voice turn needs from its engines and its store.

The real ones are the speech service (harvis.speech.service.SpeechService), the LLM router
(harvis.llm.router.Router) and the backend's message store (wrapped in harvis.api.voice);
tests can stand in for any of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from harvis.llm.types import ChatRequest, Delta, ModelInfo, StreamEnd
from harvis.pipeline.events import SessionStarted


class TranscriptLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def language(self) -> str | None: ...


class SpeechPort(Protocol):
    def decode(self, data: bytes, *, max_seconds: float) -> Any: ...

    async def vad_trim(self, audio: Any) -> Any: ...

    async def transcribe(self, audio: Any, *, language: str | None = None) -> TranscriptLike: ...

    def synthesize(self, text: str, *, voice: Any) -> AsyncIterator[Any]:
        """Audio chunks with `.pcm` (float32 array or int16 bytes) and `.sample_rate`."""
        ...


class LLMPort(Protocol):
    def stream_chat(self, request: ChatRequest) -> AsyncIterator[Delta | StreamEnd]: ...

    async def warm(self, model: str, keep_alive: str) -> None: ...

    async def list_models(self) -> list[ModelInfo]: ...


class TurnRecorder(Protocol):
    """Saves one voice exchange: the user's words first, the answer when the turn ends."""

    async def begin(self, transcript: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        """Save the user message (and an answer placeholder); return ids and the LLM history,
        which ends with this user message."""
        ...

    async def finish(self, *, content: str, reasoning: str, status: str, error: str | None,
                     served_by: str | None, model: str | None, timings: dict[str, float | None]) -> None: ...
