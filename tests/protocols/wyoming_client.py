"""Driving the Wyoming server with the `wyoming` package's own client, as Home Assistant does."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

from harvis.speech.audio import wav_header

TIMEOUT = 240.0


@asynccontextmanager
async def client(port: int) -> AsyncIterator[AsyncTcpClient]:
    async with AsyncTcpClient("127.0.0.1", port) as c:
        yield c


async def next_event(c: AsyncTcpClient, within: float = TIMEOUT) -> Event:
    event = await asyncio.wait_for(c.read_event(), within)
    assert event is not None, "the server closed the connection"
    return event


async def read_until(c: AsyncTcpClient, kind: str, seen: list[Event], within: float = TIMEOUT) -> Event:
    """Events up to and including the first `kind` (kept in `seen`); an `error` fails the test."""
    while True:
        event = await next_event(c, within)
        seen.append(event)
        if event.type == kind:
            return event
        assert event.type != "error", event.data


def wav_pcm(wav: bytes) -> tuple[bytes, int, int, int]:
    """(PCM frames, rate, width, channels) of a WAV file."""
    with wave.open(io.BytesIO(wav), "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate(), w.getsampwidth(), w.getnchannels()


async def send_audio(c: AsyncTcpClient, pcm: bytes, rate: int, width: int, channels: int) -> None:
    """Audio as Home Assistant streams it: audio-start, chunks of 1024 samples (no audio-stop)."""
    await c.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    step = 1024 * width * channels
    for i in range(0, len(pcm), step):
        await c.write_event(
            AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i : i + step]).event()
        )


async def stop_audio(c: AsyncTcpClient) -> None:
    await c.write_event(AudioStop().event())


async def call(method: Any, *args: Any, **kwargs: Any) -> httpx.Response:
    """A blocking httpx call from a test coroutine, in a thread (the server's loop is elsewhere)."""
    response: httpx.Response = await asyncio.to_thread(method, *args, **kwargs)
    return response


def silence(seconds: float, rate: int, width: int, channels: int) -> bytes:
    return bytes(int(seconds * rate) * width * channels)


def to_wav(pcm: bytes, rate: int) -> bytes:
    return wav_header(rate, len(pcm)) + pcm
