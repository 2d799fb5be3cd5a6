"""Audio in and out: decode any upload (PyAV), resample, and encode PCM/WAV.

Inside Harvis audio is one shape: mono float32 samples in [-1, 1] plus a sample rate.
Decoding is where untrusted bytes enter, so every failure becomes an AudioError with a
code and a plain message that the API returns as a 4xx.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from harvis.errors import BadInput

STT_RATE = 16_000  # what Whisper, Silero VAD and the speaker encoder expect


class AudioError(BadInput):
    """Bad audio from outside (empty, corrupt, not audio, too long): a 4xx, never a 500."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code=code, status=status)


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, mono, [-1, 1]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate if self.sample_rate else 0.0

    @property
    def empty(self) -> bool:
        return len(self.samples) == 0


def _is_empty(data: bytes | BinaryIO) -> bool:
    if isinstance(data, bytes | bytearray):
        return not data
    at = data.tell()
    data.seek(0, io.SEEK_END)
    empty = data.tell() == at
    data.seek(at)
    return empty


def decode(data: bytes | BinaryIO, *, max_seconds: float, sample_rate: int = STT_RATE) -> Audio:
    """Decode WebM/Opus, WAV, MP3, OGG, FLAC… into mono float32 at `sample_rate`.

    `data` is the bytes or a seekable file (an upload spooled to disk, read as it decodes).
    Stops reading as soon as the audio passes `max_seconds`, so a long file costs little.
    """
    import av

    if _is_empty(data):
        raise AudioError("empty_audio", "the audio upload is empty")
    try:
        container = av.open(io.BytesIO(data) if isinstance(data, bytes | bytearray) else data, mode="r")
    except (av.FFmpegError, ValueError, OSError) as exc:
        raise AudioError("invalid_audio", f"could not read the upload as audio ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioError("no_audio_stream", "the upload has no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        limit = int(max_seconds * sample_rate)
        pieces: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
                    total += out.samples
                if total > limit:
                    raise AudioError(
                        "audio_too_long", f"the audio is longer than the limit of {max_seconds:g} s"
                    )
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
        except AudioError:
            raise
        except (av.FFmpegError, ValueError, OSError) as exc:
            raise AudioError("invalid_audio", f"the audio is corrupt ({_reason(exc)})") from None
    samples = np.concatenate(pieces).astype(np.float32, copy=False) if pieces else np.zeros(0, np.float32)
    if len(samples) > limit:
        raise AudioError("audio_too_long", f"the audio is longer than the limit of {max_seconds:g} s")
    if len(samples) == 0:
        raise AudioError("empty_audio", "the upload holds no audio samples")
    return Audio(np.clip(samples, -1.0, 1.0), sample_rate)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    # FFmpeg messages may quote a temp path or a long repr; keep them short.
    return text.splitlines()[0][:160]


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 resampling (FFmpeg's swresample through PyAV)."""
    if from_rate == to_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=to_rate)
    out: list[np.ndarray] = []
    step = from_rate  # one-second frames: FFmpeg frames stay a usual size
    src = np.ascontiguousarray(samples, dtype=np.float32)
    for start in range(0, len(src), step):
        piece = src[start : start + step].reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
        frame.sample_rate = from_rate
        out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros(0, np.float32)


def to_rate(audio: Audio, sample_rate: int) -> Audio:
    return (
        audio
        if audio.sample_rate == sample_rate
        else Audio(resample(audio.samples, audio.sample_rate, sample_rate), sample_rate)
    )


def pcm16(samples: np.ndarray) -> bytes:
    """Float32 [-1, 1] → signed 16-bit little-endian PCM bytes."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 16-bit mono WAV header. `data_bytes=None` marks a stream of unknown length
    (sizes set to the maximum, which FFmpeg, browsers and most players accept)."""
    size = 0xFFFFFFFF - 36 if data_bytes is None else data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + size, 0xFFFFFFFF))
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    body = pcm16(samples)
    return wav_header(sample_rate, len(body)) + body
