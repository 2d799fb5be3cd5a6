"""Live PCM streams (Wyoming chunks, OpenAI Realtime appends) into Harvis's one audio shape.

A stream arrives in small pieces at the sender's rate; resampling each piece on its own would
click at every seam, so one FFmpeg resampler (PyAV) follows the whole stream.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harvis.errors import BadInput


def pcm_to_float(data: bytes, *, width: int, channels: int) -> np.ndarray:
    """Interleaved little-endian PCM (8-bit unsigned, 16- or 32-bit signed) → mono float32."""
    if width not in (1, 2, 4) or channels < 1:
        raise BadInput("PCM audio is 1, 2 or 4 bytes a sample, one channel or more", code="bad_audio")
    if len(data) % (width * channels):
        raise BadInput("the audio holds a part of a sample", code="bad_audio")
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    else:
        kind = "<i2" if width == 2 else "<i4"
        samples = np.frombuffer(data, kind).astype(np.float32) / float(2 ** (8 * width - 1))
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples.astype(np.float32, copy=False)


class StreamResampler:
    """Mono float32 from one rate to another, piece by piece, without seams."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self._resampler: Any = None
        if from_rate != to_rate:
            import av

            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate)

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._resampler is None or len(samples) == 0:
            return samples.astype(np.float32, copy=False)
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.from_rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """What the resampler still holds (at the end of the stream)."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[Any]) -> np.ndarray:
        parts = [f.to_ndarray().reshape(-1) for f in frames]
        return np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
