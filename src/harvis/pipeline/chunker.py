"""Cut a stream of answer tokens into speakable clauses.

A plain object, fed token text as it arrives: ``aggregate`` returns the clauses that are
complete, ``flush`` the rest at the end, ``reset`` forgets everything (barge-in), and
``due`` releases a long-waiting buffer at a word boundary (the maximum wait).

A boundary is only confirmed by the character after it ("3.14", "e.g.x", "v1.2" are not
sentence ends), so the chunker looks one character ahead and holds a trailing period until
the next token shows what follows. Only answer content goes in here, never reasoning.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

STRONG = ".!?…"
WEAK = ",;:—"
CLOSERS = "\"')]»”’"
_MARKUP = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+(?=\D))", re.MULTILINE)
_SPACES = re.compile(r"\s+")


def speakable(text: str) -> str:
    """Text as it should be read aloud: markdown marks dropped, whitespace folded."""
    return _SPACES.sub(" ", _MARKUP.sub("", text)).strip()


class ClauseChunker:
    def __init__(
        self,
        *,
        min_chars: int = 24,
        weak_min_chars: int = 60,
        max_wait_s: float = 1.2,
        clock: Callable[[], float] = time.monotonic,
        first_min_chars: int | None = None,
        first_weak_min_chars: int | None = None,
    ) -> None:
        self.min_chars = min_chars  # a sentence shorter than this waits to join the next one
        self.weak_min_chars = weak_min_chars  # cut at a comma only once this much has gathered
        # The first clause may be shorter: the listener waits for it, not for the later ones.
        self._first = (
            min_chars if first_min_chars is None else first_min_chars,
            weak_min_chars if first_weak_min_chars is None else first_weak_min_chars,
        )
        self._emitted = False
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._buf = ""
        self._since: float | None = None  # when the oldest unspoken character arrived

    @property
    def pending(self) -> str:
        return self._buf

    def reset(self) -> None:
        self._buf = ""
        self._since = None

    def aggregate(self, text: str) -> list[str]:
        if not text:
            return []
        if self._since is None:
            self._since = self._clock()
        self._buf += text
        out: list[str] = []
        while (cut := self._find_cut()) is not None:
            self._emit(cut, out)
        return out

    def flush(self) -> str | None:
        clause = speakable(self._buf)
        self.reset()
        return clause or None

    def seconds_until_due(self) -> float | None:
        """How long until `due` may release text; None when nothing waits."""
        if self._since is None or not self._buf.strip():
            return None
        return max(0.0, self._since + self.max_wait_s - self._clock())

    def due(self) -> str | None:
        """After the maximum wait, release what gathered up to its last word boundary."""
        left = self.seconds_until_due()
        if left is None or left > 0 or len(self._buf.strip()) < self.min_chars:
            return None
        text = self._buf.rstrip()
        # Prefer the last comma-like pause that leaves a long enough clause, else the last space.
        weak = max(
            (
                i
                for i, ch in enumerate(text)
                if ch in WEAK
                and i + 1 < len(text)
                and text[i + 1] == " "
                and len(text[:i].strip()) >= self.min_chars
            ),
            default=-1,
        )
        cut = weak + 1 if weak > 0 else text.rfind(" ")
        if cut <= 0:
            return None
        out: list[str] = []
        self._emit(cut + 1, out)
        return out[0] if out else None

    def _emit(self, cut: int, out: list[str]) -> None:
        clause, self._buf = speakable(self._buf[:cut]), self._buf[cut:].lstrip()
        self._since = self._clock() if self._buf else None
        if clause:
            out.append(clause)
            self._emitted = True

    def _find_cut(self) -> int | None:
        """End index of the first confirmed clause in the buffer, or None."""
        buf = self._buf
        strong_min, weak_min = (self.min_chars, self.weak_min_chars) if self._emitted else self._first
        for i, ch in enumerate(buf):
            strong = ch in STRONG or ch == "\n"
            if not (strong or ch in WEAK):
                continue
            end = i + 1
            while end < len(buf) and buf[end] in CLOSERS + STRONG:
                end += 1
            if ch != "\n":
                if end >= len(buf):
                    return None  # look ahead: the next character decides
                if not buf[end].isspace() or (ch == "." and _not_a_sentence_end(buf[:i])):
                    continue  # 3.14, e.g., a,b, "Dr. Who", "1. step": not a boundary
            size = len(speakable(buf[:end]))
            if size >= (strong_min if strong else weak_min):
                return end
        return None


_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "approx", "no", "fig"}


def _not_a_sentence_end(before: str) -> bool:
    """True when the period after `before` ends an abbreviation or a list number ("1.")."""
    line = before.rsplit("\n", 1)[-1]
    if line.strip().isdigit():
        return True
    words = line.split()
    return bool(words) and words[-1].lower() in _ABBREVIATIONS
