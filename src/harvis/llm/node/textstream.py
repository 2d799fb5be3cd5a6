"""Turn generated token bytes into text pieces that never show part of a stop sequence."""

from __future__ import annotations

import codecs


class StopScanner:
    """Holds back text that could be the start of a stop sequence until it is decided.

    ``feed`` returns (text safe to send, stopped). Once stopped, the rest is discarded,
    so a stop sequence never reaches the client, not even split across tokens.
    """

    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        buf = self._held + text
        hits = [i for i in (buf.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held = ""
            return buf[: min(hits)], True
        keep = 0
        for stop in self._stops:
            for k in range(min(len(stop) - 1, len(buf)), keep, -1):
                if buf.endswith(stop[:k]):
                    keep = k
                    break
        self._held = buf[len(buf) - keep :] if keep else ""
        return (buf[: len(buf) - keep] if keep else buf), False

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


class PieceDecoder:
    """UTF-8 across token boundaries: a character split over two tokens comes out whole."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, piece: bytes) -> str:
        return str(self._decoder.decode(piece))

    def flush(self) -> str:
        return str(self._decoder.decode(b"", final=True))
