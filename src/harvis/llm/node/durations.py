"""Ollama's ``keep_alive`` values: Go duration strings ("5m", "1h30m", "300ms") or seconds."""

from __future__ import annotations

import math
import re

# One signed Go duration: a sequence of <number><unit> with no spaces ("1h30m", "-1.5s").
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class InvalidDuration(ValueError):
    pass


def parse_go_duration(text: str) -> float:
    """Seconds for a Go ``time.ParseDuration`` string. A bare number counts as seconds
    (as Ollama's OLLAMA_KEEP_ALIVE does), which Go itself would reject."""
    raw = text.strip()
    if not raw:
        raise InvalidDuration('time: invalid duration ""')
    sign = -1.0 if raw[0] == "-" else 1.0
    body = raw[1:] if raw[0] in "+-" else raw
    try:
        return sign * float(body) if body.replace(".", "", 1).isdigit() else sign * _sum_parts(body, text)
    except ValueError as exc:
        raise InvalidDuration(str(exc)) from None


def _sum_parts(body: str, original: str) -> float:
    pos, total = 0, 0.0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise InvalidDuration(f'time: invalid duration "{original}"')
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise InvalidDuration(f'time: invalid duration "{original}"')
    return total


def keep_alive_seconds(value: object, default: float | None) -> float | None:
    """How long to keep a model loaded after a request, in seconds.

    ``None`` in the result means forever (any negative value); 0 means unload right away.
    A missing value (``None``) gives ``default``. Raises InvalidDuration for anything else.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        raise InvalidDuration(f"invalid keep_alive: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = parse_go_duration(value)
    else:
        raise InvalidDuration(f"invalid keep_alive: {value!r}")
    if math.isnan(seconds):
        raise InvalidDuration(f"invalid keep_alive: {value!r}")
    return None if seconds < 0 else seconds
