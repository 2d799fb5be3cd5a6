"""The low-latency realtime path's view of one utterance: the parts transcribed at its pauses
while the user talks (partial transcripts), then the tail after its end, so that when the
turn ends only what followed the last pause is left to transcribe, if anything did.

A part is either the utterance so far (`cumulative`, the default: Whisper's cost is mostly
fixed, and a fragment heard without its context is misheard more, and punctuated as if it
were a whole sentence) or only the speech since the previous pause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harvis.pipeline.hearing import Heard, Piece
from harvis.speech.audio import Audio


@dataclass
class Utterance:
    number: int  # Piece.segment of its parts
    cumulative: bool = False  # each part holds all of the utterance so far
    heard: list[Heard] = field(default_factory=list)
    pending: int = 0  # parts handed to the recognizer, not heard yet
    ended: tuple[float, float] | None = None  # (last voice arrived, turn ended) once it ended
    audio: Audio | None = None  # all of it, once it ended

    @property
    def text(self) -> str:
        if self.cumulative:  # the latest part heard is the most complete
            return next((h.text for h in reversed(self.heard) if h.text), "")
        return " ".join(h.text for h in self.heard if h.text)

    @property
    def ready(self) -> bool:
        """Ended, and every part heard: the whole transcript is known."""
        return self.ended is not None and self.pending == 0

    def part(self, audio: Audio, ended_at: float, voice_at: float) -> Piece:
        self.pending += 1
        return Piece(audio, False, ended_at, segment=self.number, voice_at=voice_at)

    def transcript(self) -> Heard:
        """The whole turn as one Heard, stamped like a piece heard at once: ended when the
        turn ended, heard when its last part was."""
        assert self.ended is not None and self.audio is not None
        voice_at, ended_at = self.ended
        last = self.heard[-1] if self.heard else None
        language = next((h.language for h in reversed(self.heard) if h.language), None)
        piece = Piece(self.audio, False, ended_at, voice_at=voice_at)
        heard_at = max((h.heard_at for h in self.heard), default=ended_at)
        return Heard(self.text, language, piece, last.stt_ms if last else 0.0, heard_at)


class Utterances:
    """The utterance being spoken, and those ended whose last parts are still being heard."""

    def __init__(self, *, cumulative: bool = False) -> None:
        self.cumulative = cumulative
        self.current = Utterance(1, cumulative)
        self._ending: dict[int, Utterance] = {}

    def end(self, voice_at: float, ended_at: float) -> Utterance:
        """The current utterance ended (its tail, if any, is still to be put); a new one begins."""
        done, self.current.ended = self.current, (voice_at, ended_at)
        self._ending[done.number] = done
        self.current = Utterance(done.number + 1, self.cumulative)
        return done

    def discard(self) -> None:
        """Forget the current utterance's parts (its audio is heard whole instead)."""
        self.current = Utterance(self.current.number + 1, self.cumulative)

    def take(self, heard: Heard) -> Utterance | None:
        """Record a part that was heard; its utterance, or None when that one was discarded."""
        number = heard.piece.segment
        utterance = self.current if number == self.current.number else self._ending.get(number)
        if utterance is None:
            return None
        utterance.pending -= 1
        if heard.text:
            utterance.heard.append(heard)
        return utterance

    def finished(self, utterance: Utterance) -> None:
        self._ending.pop(utterance.number, None)
