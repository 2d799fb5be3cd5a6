"""What the stages of a turn pass each other (never seen outside the turn).

The LLM stage sends `Delta`/`StreamEnd` items, then `StageFailed` if it failed, then
`END`; the speaker tells the chunker how many clauses it has spoken (`Spoken`), so the
chunker knows when the speaker is idle without asking; clauses go to the speaker as `Clause`.
Between tool rounds the LLM stage sends `Flush` (say what was written before the tool runs),
`Emit` (a tool event, in order with the tokens) and, when a tool is slow, `Cue`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harvis.errors import HarvisError
from harvis.llm.types import Delta, StreamEnd
from harvis.pipeline.events import TurnEvent


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


@dataclass(frozen=True)
class Emit:
    """An event for the consumer, in its place among the tokens (tool calls and results)."""

    event: TurnEvent


@dataclass(frozen=True)
class Flush:
    """A tool is about to run: what the chunker holds is a clause now, not after the tool."""


@dataclass(frozen=True)
class Cue:
    """A tool is slow: speak the cue (after the clauses before it)."""


LLMFrame = Delta | StreamEnd | StageFailed | Emit | Flush | Cue | EndOfStream
ChunkerFrame = LLMFrame | Spoken
SpeakerFrame = Clause | Cue | EndOfStream
