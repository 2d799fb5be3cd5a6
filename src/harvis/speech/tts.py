"""The text-to-speech engine interface, the voice a request asks for, and sentence splitting.

An engine turns ONE sentence into audio; SpeechService walks the sentences so that the
first one can play while the next is being made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from harvis.errors import ServiceUnavailable

VoiceMode = Literal["builtin", "clone", "match"]


@dataclass(frozen=True)
class AudioChunk:
    """One sentence of speech.

    `pcm` is mono float32 in [-1, 1] at `sample_rate` (encode with audio.pcm16 / wav_bytes);
    `text` is the sentence it says.
    """

    pcm: np.ndarray
    sample_rate: int
    text: str

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / self.sample_rate if self.sample_rate else 0.0


@dataclass(frozen=True)
class VoiceRef:
    """A resolved voice: a built-in one, or a user's voice (cloned or matched)."""

    id: str
    name: str
    mode: VoiceMode
    engine: str
    reference: Path | None = None  # the user's reference clip (clone mode reads it)
    speaker_data: dict[str, Any] | None = None  # match parameters, computed once per voice
    # Chatterbox's style, per voice or per request (dataclasses.replace); None = the engine's default.
    exaggeration: float | None = None  # 0.25–2.0; higher = more expressive
    cfg_weight: float | None = None  # 0–1; lower = slower, more deliberate pacing


class TTSEngine(Protocol):
    name: str  # "piper" | "chatterbox"
    sample_rate: int

    def load(self) -> TTSEngine: ...

    def synthesize(self, text: str, *, voice: VoiceRef, speed: float = 1.0) -> np.ndarray:
        """Blocking: one sentence → mono float32 samples at `sample_rate`."""
        ...


class TTSUnavailable(ServiceUnavailable):
    """An engine cannot run here (package or weights missing); the message says what and where."""

    code = "model_unavailable"


# A sentence ends at . ! ? … (with closing quotes/brackets) followed by space, or at a newline.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"')\]]))\s+|\n+")
_MAX_SENTENCE = 400  # characters; longer runs are cut at a comma or a space so no chunk stalls


def split_sentences(text: str) -> list[str]:
    """Sentences in order, stripped, none empty; very long ones are cut near a clause boundary."""
    out: list[str] = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        while len(part) > _MAX_SENTENCE:
            cut = max(part.rfind(", ", 0, _MAX_SENTENCE), part.rfind(" ", 0, _MAX_SENTENCE))
            cut = cut if cut > 0 else _MAX_SENTENCE
            out.append(part[: cut + 1].strip())
            part = part[cut + 1 :].strip()
        if part and any(c.isalnum() for c in part):
            out.append(part)
    return out
