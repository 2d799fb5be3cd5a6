"""What the stages of a turn pass each other (never seen outside the turn).

The LLM stage sends `Delta`/`StreamEnd` items, then `StageFailed` if it failed, then
`END`; the speaker tells the chunker how many clauses it has spoken (`Spoken`), so the
chunker knows when the speaker is idle without asking; clauses go to the speaker as `Clause`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harvis.errors import HarvisError
from harvis.llm.types import Delta, StreamEnd


@dataclass(frozen=True)
class EndOfStream:
    """The last item a stage sends."""


END = EndOfStream()


@dataclass(frozen=True)
class StageFailed:
    error: HarvisError


@dataclass(frozen=True)
class Clause:
    text: str


@dataclass(frozen=True)
class Spoken:
    """The speaker has finished this many clauses in all."""

    count: int


LLMFrame = Delta | StreamEnd | StageFailed | EndOfStream
ChunkerFrame = LLMFrame | Spoken
SpeakerFrame = Clause | EndOfStream
