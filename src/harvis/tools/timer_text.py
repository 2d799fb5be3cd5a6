"""Words for the timer tools: durations and times as a model writes them ("10 minutes",
"1h30m", "PT90S", "in 5 minutes", "15:30", "tomorrow at 9am", an ISO time), read in the user's
time zone; and the short sentences said back ("it ends at 14:03:10")."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from harvis.tools.base import ToolFailed

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_UNIT_WORDS = (
    r"(?P<unit>seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)"  # longest first in each
)
_PART = re.compile(
    rf"(?:(?<![\d.])(?P<n>\d+(?:\.\d+)?)\s*|(?<![a-z])(?P<w>half an?|an?)\s+){_UNIT_WORDS}(?![a-z])"
)
_ISO_DURATION = re.compile(
    r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
_CLOCK = re.compile(r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?(?::(?P<s>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?")


def zone_of(name: str | None) -> tzinfo:
    """The user's zone (an IANA name from the client); None: the server's own."""
    if not name:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolFailed(f"unknown time zone {name!r}") from exc


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or words such as "10 minutes", "1h30m", "PT90S"."""
    if isinstance(value, bool):
        raise ToolFailed("a duration is a number of seconds or words such as '10 minutes'")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ToolFailed("a duration is a number of seconds or words such as '10 minutes'")
    text = value.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    if (iso := _ISO_DURATION.fullmatch(text.upper())) and any(iso.groups()):
        d, h, m, s = (float(g or 0) for g in iso.group("d", "h", "m", "s"))
        return d * 86400 + h * 3600 + m * 60 + s
    text = re.sub(r"^in\s+|\s+from now$", "", text)
    total, end = 0.0, 0
    for match in _PART.finditer(text):
        if text[end : match.start()].strip(" ,") not in (("", "and") if end else ("",)):
            break
        n, w = match.group("n", "w")
        amount = float(n) if n else 0.5 if w.startswith("half") else 1.0
        total += amount * UNITS[match.group("unit")[0]]
        end = match.end()
    if end == 0 or text[end:].strip(" ,."):
        raise ToolFailed(
            f"could not read {value!r} as a duration; say for example '90 seconds' or '1 hour 30 minutes'"
        )
    return total


def parse_when(value: object, zone: tzinfo, now: datetime) -> datetime:
    """A moment (UTC) from "in 10 minutes", "15:30", "3pm", "tomorrow at 9:00" or an ISO time
    (without an offset it is the user's local time). A bare clock time is its next occurrence."""
    if not isinstance(value, str) or not value.strip():
        raise ToolFailed(
            "'when' is a time such as '15:30', 'tomorrow at 9am', 'in 10 minutes' or an ISO time"
        )
    text = value.strip().lower()
    if text.startswith("in ") or text.endswith(" from now"):
        return now + timedelta(seconds=parse_duration(text))
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return _clock_time(value, text, zone, now)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _clock_time(value: str, text: str, zone: tzinfo, now: datetime) -> datetime:
    day_offset = 0
    for word, offset in (("today", 0), ("tonight", 0), ("tomorrow", 1)):
        if text.startswith(word):
            text, day_offset = text[len(word) :].strip(), offset
            break
    text = re.sub(r"^at\s+", "", text)
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ToolFailed(
            f"could not read {value!r} as a time; say '15:30', 'tomorrow at 9am' or 'in 10 minutes'"
        )
    hour, minute, second = (int(g or 0) for g in match.group("h", "m", "s"))
    ampm = (match.group("ampm") or "").replace(".", "")
    if ampm and not 1 <= hour <= 12:
        raise ToolFailed(f"{value!r}: with am/pm the hour is 1 to 12")
    if ampm:
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59 or (match.group("m") is None and not ampm):
        raise ToolFailed(
            f"could not read {value!r} as a time; say '15:30', 'tomorrow at 9am' or 'in 10 minutes'"
        )
    local_now = now.astimezone(zone)
    moment = local_now.replace(hour=hour, minute=minute, second=second, microsecond=0) + timedelta(
        days=day_offset
    )
    if day_offset == 0 and moment <= local_now:
        moment += timedelta(days=1)  # "at 7:00" said at 8:00 means tomorrow's
    return moment.astimezone(UTC)


def say_duration(seconds: float) -> str:
    """'1 hour 30 minutes', '10 seconds' (whole seconds; sub-second parts are dropped)."""
    left = max(1, round(seconds))
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n, left = divmod(left, size)
        if n:
            parts.append(f"{n} {name}{'' if n == 1 else 's'}")
    return " ".join(parts[:2]) if len(parts) > 2 else " ".join(parts)


def say_moment(moment: datetime, zone: tzinfo, now: datetime) -> str:
    """'14:03:10' today, else 'Thursday 3 December at 09:00:00', in the user's zone."""
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M:%S")
    if local.date() == today:
        return clock
    day = "tomorrow" if local.date() == today + timedelta(days=1) else f"{local:%A} {local.day} {local:%B}"
    return f"{day} at {clock}"


LATE_AFTER_S = 5.0  # later than this, an announcement says so (the backend was down)


def announcement(kind: str, text: str, due_at: datetime, created_at: datetime, fired_at: datetime) -> str:
    """What is said when it goes off: 'The tea timer is done.', 'Reminder: call mum.'"""
    if kind == "reminder":
        said = f"Reminder: {text.rstrip(' .!')}."
    elif text:
        said = f"The {text.rstrip(' .!')} timer is done."
    else:
        said = f"Your timer of {say_duration((due_at - created_at).total_seconds())} is done."
    late = (fired_at - due_at).total_seconds()
    if late > LATE_AFTER_S:
        said += f" It is late by {say_duration(late)}."
    return said
