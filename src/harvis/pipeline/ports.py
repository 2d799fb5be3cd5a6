"""The small interfaces a turn needs from its engines and its store.

The real ones are the speech service (harvis.speech.service.SpeechService), the LLM router
(harvis.llm.router.Router) and the chat store (harvis.pipeline.recorder.DbRecorder); tests
can stand in for any of them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Protocol

from harvis.llm.types import ChatRequest, Delta, ModelInfo, StreamEnd
from harvis.pipeline.events import SessionStarted
from harvis.speech.audio import Audio
from harvis.speech.tts import AudioChunk, VoiceRef


class TranscriptLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def language(self) -> str | None: ...


class SpeechPort(Protocol):
    async def vad_trim(self, audio: Audio) -> Audio: ...

    async def transcribe(self, audio: Audio, *, language: str | None = None) -> TranscriptLike: ...

    async def speak(self, clause: str, *, voice: VoiceRef | None = None) -> AudioChunk | None:
        """One clause as given (no re-splitting); None when it makes no sound."""
        ...

    async def ensure_tts(self) -> Any:
        """Load the TTS engine now (it is loaded on first use otherwise)."""
        ...


class LLMPort(Protocol):
    def stream_chat(self, request: ChatRequest) -> AsyncGenerator[Delta | StreamEnd, None]: ...

    async def warm(self, model: str, keep_alive: str) -> None: ...

    async def list_models(self) -> list[ModelInfo]: ...


class TurnRecorder(Protocol):
    """Saves one exchange: the user's words first, progress while the answer streams, the
    answer when the turn ends."""

    async def begin(self, text: str, *, model: str) -> tuple[SessionStarted, list[dict[str, Any]]]:
        """Save the user message (and an answer placeholder); return ids and the LLM history,
        which ends with this user message."""
        ...

    async def progress(self, *, content: str, reasoning: str) -> None: ...

    async def finish(
        self,
        *,
        content: str,
        reasoning: str,
        status: str,
        error: str | None,
        served_by: str | None,
        model: str | None,
        timings: dict[str, float | None],
        tool_calls: list[dict[str, Any]] | None = None,
    ) -> None: ...
