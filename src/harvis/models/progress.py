"""Progress for long copies and downloads: a bar on a terminal, plain lines in logs."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class Progress:
    """Counts bytes. On a TTY a tqdm bar; otherwise one line at start, every 25 %, and at the end,
    which reads well in `kubectl logs` of an init container."""

    def __init__(self, label: str, total: int, stream: Any = None) -> None:
        self.label = label
        self.total = max(0, total)
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.done = 0
        self._next_mark = 25
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if getattr(self.stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(
                total=self.total or None, desc=self.label, unit="B", unit_scale=True, file=self.stream
            )
        else:
            self._line(f"{self.label}: start ({_mb(self.total)})")
        return self

    def advance(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        if self.total:
            pct = self.done * 100 // self.total
            while pct >= self._next_mark and self._next_mark < 100:
                self._line(f"{self.label}: {self._next_mark}% ({_mb(self.done)} of {_mb(self.total)})")
                self._next_mark += 25

    def __exit__(self, exc_type: object, *_: object) -> None:
        if self._bar is not None:
            self._bar.close()
        if exc_type is None:
            self._line(f"{self.label}: done ({_mb(self.done)})")
        else:
            self._line(f"{self.label}: failed after {_mb(self.done)}")

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
