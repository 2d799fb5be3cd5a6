"""A simple end-of-turn detector: how long to wait in silence before the user's turn ends,
from how their words so far look.

Whisper punctuates what it hears. A transcript that ends a sentence ("… on a clear day?")
is likely finished, so the wait is short; one that trails off ("I want to know the", "so…")
is likely not, so the wait is long. Whisper also closes fragments with a period ("What is
the."), so a sentence end after a word that cannot end a sentence does not count.
"""

from __future__ import annotations

import re

# Words a finished English sentence rarely ends with: articles, prepositions, conjunctions,
# auxiliaries, fillers.
_OPEN_ENDED = frozenset(
    """a an the and or but so because if then than that which who whose what when where why how
    to of in on at for from with about into over under by as like is are was were be been am do
    does did can could will would should shall may might must have has had my your his her its
    our their this these those um uh er hmm well also just very really""".split()
)
_LAST_WORD = re.compile(r"([A-Za-z']+)\W*$")


def looks_finished(text: str) -> bool:
    """True when `text` ends like a finished sentence (., ? or !, not an ellipsis, not after
    an open-ended word)."""
    text = text.strip().rstrip("\"')]»”’")
    if not text or text[-1] not in ".?!" or text.endswith(("..", "…")):
        return False
    match = _LAST_WORD.search(text)
    return not (match and match.group(1).lower() in _OPEN_ENDED)


def end_of_turn_ms(text: str | None, *, default_ms: int, short_ms: int, long_ms: int) -> int:
    """The silence that ends the turn: `default_ms` before any transcript is known."""
    if text is None:
        return default_ms
    return short_ms if looks_finished(text) else long_ms
