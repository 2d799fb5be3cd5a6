"""What the listener heard: a spoken answer cut where its audio stopped playing.

Clauses play one after another; a cut inside a clause keeps the words said by then, in
proportion to the clause's audio (the TTS gives no word timings here).
"""

from __future__ import annotations

from collections.abc import Sequence


def words_within(text: str, fraction: float) -> str:
    """The words of `text` spoken in the first `fraction` (0–1) of its audio, assuming speech
    time follows characters; a word counts once it has finished."""
    if fraction >= 1.0:
        return text
    budget = max(0.0, fraction) * len(text)
    kept, end = [], 0
    for word in text.split():
        end = text.index(word, end) + len(word)
        if end > budget:
            break
        kept.append(word)
    return " ".join(kept)


def heard_text(clauses: Sequence[tuple[str, float]], played_s: float) -> str:
    """`clauses` are (text, seconds of audio) in playing order; `played_s` how much played."""
    out: list[str] = []
    start = 0.0
    for text, seconds in clauses:
        if played_s >= start + seconds:
            out.append(text)
        elif played_s > start and seconds > 0:
            out.append(words_within(text, (played_s - start) / seconds))
            break
        else:
            break
        start += seconds
    return " ".join(part for part in out if part)
