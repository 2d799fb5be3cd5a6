"""Audio chunks as small WAV files (16-bit mono), the format the voice API sends."""

from __future__ import annotations

import io
import wave
from collections.abc import Sequence
from typing import Any

import numpy as np


def pcm16(pcm: Any) -> bytes:
    """int16 little-endian bytes from float32 samples in [-1, 1], an int16 array, or bytes as is."""
    if isinstance(pcm, bytes | bytearray | memoryview):
        return bytes(pcm)
    arr = np.asarray(pcm)
    if arr.dtype.kind == "f":
        arr = (np.clip(arr, -1.0, 1.0) * 32767.0).astype("<i2")
    return arr.astype("<i2", copy=False).tobytes()


def wav_file(parts: Sequence[bytes], sample_rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        for part in parts:
            w.writeframes(part)
    return buf.getvalue()


def wav_seconds(wav: bytes) -> float:
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.getnframes() / float(w.getframerate())
