"""Encoders for speech that streams out: each sentence's audio becomes bytes at once.

wav and pcm are written by hand (no latency at all); mp3, opus, aac and flac go through
PyAV with a sink that hands back whatever the muxer has written so far.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from harvis.speech.audio import pcm16, resample, wav_header

OPENAI_PCM_RATE = 24_000  # OpenAI's `pcm` is raw 16-bit little-endian mono at 24 kHz
MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}
# format → (container, codec, sample rate)
_AV_FORMATS = {
    "mp3": ("mp3", "libmp3lame", 24_000),
    "opus": ("ogg", "libopus", 48_000),
    "aac": ("adts", "aac", 24_000),
    "flac": ("flac", "flac", 24_000),
}


class _Sink(io.RawIOBase):
    """A write-only file that the muxer writes into and we drain after each sentence."""

    def __init__(self) -> None:
        super().__init__()
        self._buf = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buf.extend(data)
        return len(data)

    def take(self) -> bytes:
        out = bytes(self._buf)
        self._buf.clear()
        return out


class StreamEncoder:
    """`start()` once, `feed(pcm, rate)` per sentence, `end()` once; each returns bytes to send."""

    def __init__(self, fmt: str, sample_rate: int) -> None:
        if fmt not in MEDIA_TYPES:
            raise ValueError(f"unsupported format {fmt!r}")
        self.fmt = fmt
        self.sample_rate = sample_rate  # of the audio fed in
        self._container: Any = None
        self._stream: Any = None
        self._sink = _Sink()
        self._pts = 0

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.fmt]

    def start(self) -> bytes:
        if self.fmt == "wav":
            return wav_header(self.sample_rate)  # length unknown: the stream is still being made
        if self.fmt == "pcm":
            return b""
        import av

        container_fmt, codec, rate = _AV_FORMATS[self.fmt]
        # Short Ogg pages: otherwise the muxer holds a whole second or more before writing.
        options = {"page_duration": "20000"} if container_fmt == "ogg" else {}
        self._container = av.open(self._sink, mode="w", format=container_fmt, options=options)
        self._stream = self._container.add_stream(codec, rate=rate)
        self._stream.layout = "mono"
        return b""

    def feed(self, pcm: np.ndarray) -> bytes:
        if self.fmt == "wav":
            return pcm16(pcm)
        if self.fmt == "pcm":
            return pcm16(resample(pcm, self.sample_rate, OPENAI_PCM_RATE))
        import av

        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm, np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.sample_rate
        frame.pts = self._pts
        self._pts += len(pcm)
        for packet in self._stream.encode(frame):  # PyAV converts rate/format and re-frames
            self._container.mux(packet)
        return self._sink.take()

    def end(self) -> bytes:
        if self._container is None:
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        self._container = None
        return self._sink.take()
