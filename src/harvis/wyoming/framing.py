"""Reading Wyoming events within limits.

The `wyoming` package's own reader trusts the peer: it reads whatever `data_length` and
`payload_length` announce. Wyoming has no authentication, so this server reads every part of
an event against a limit instead, and tells the client what was wrong (an `error` event)
rather than dropping the connection. Writing uses the package's own writer.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from wyoming.event import Event

DRAIN_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Limits:
    header_bytes: int
    data_bytes: int
    payload_bytes: int


class FrameError(Exception):
    """A malformed or oversized event. `fatal`: the stream can no longer be followed."""

    def __init__(self, code: str, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.fatal = code, message, fatal


async def read_event(reader: asyncio.StreamReader, limits: Limits) -> Event | None:
    """The next event, None at the end of the stream; FrameError for a bad one (its bytes are
    consumed, so the next event can be read unless the error is fatal)."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise FrameError("bad_event", "the stream ended inside an event header", fatal=True) from None
        return None
    except asyncio.LimitOverrunError:
        raise FrameError(
            "too_large", f"an event header is longer than {limits.header_bytes} bytes", fatal=True
        ) from None
    if not line.strip():
        raise FrameError("bad_event", "an empty line is not an event")
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise FrameError("bad_event", "an event header must be one line of JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str) or not header["type"]:
        raise FrameError("bad_event", 'an event header is a JSON object with a "type" string')
    data_length = _length(header, "data_length")
    payload_length = _length(header, "payload_length")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        await _drain(reader, data_length + payload_length)
        raise FrameError("bad_event", '"data" must be a JSON object')
    if data_length > limits.data_bytes:
        await _drain(reader, data_length + payload_length)
        raise FrameError("too_large", f"event data is larger than the limit of {limits.data_bytes} bytes")
    if payload_length > limits.payload_bytes:
        await _drain(reader, data_length + payload_length)
        raise FrameError(
            "too_large", f"an event payload is larger than the limit of {limits.payload_bytes} bytes"
        )
    if data_length:
        extra = await _exactly(reader, data_length)
        try:
            more = json.loads(extra)
        except (UnicodeDecodeError, ValueError):
            await _drain(reader, payload_length)
            raise FrameError("bad_event", "event data must be a JSON object") from None
        if not isinstance(more, dict):
            await _drain(reader, payload_length)
            raise FrameError("bad_event", "event data must be a JSON object")
        data = {**data, **more}
    payload = await _exactly(reader, payload_length) if payload_length else None
    return Event(type=header["type"], data=data, payload=payload)


def _length(header: dict[str, object], key: str) -> int:
    value = header.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        # Without a length we cannot tell where the next event starts.
        raise FrameError("bad_event", f'"{key}" must be a whole number of bytes', fatal=True)
    return value


async def _exactly(reader: asyncio.StreamReader, n: int) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise FrameError("bad_event", "the stream ended inside an event", fatal=True) from None


async def _drain(reader: asyncio.StreamReader, n: int) -> None:
    """Skip `n` bytes without holding them (an oversized payload is read past, not kept)."""
    while n > 0:
        chunk = await reader.read(min(n, DRAIN_CHUNK))
        if not chunk:
            raise FrameError("bad_event", "the stream ended inside an event", fatal=True)
        n -= len(chunk)
