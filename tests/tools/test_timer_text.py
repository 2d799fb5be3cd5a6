"""How the timer tools read durations and times as models write them, in the user's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from harvis.tools.base import ToolFailed
from harvis.tools.timer_text import parse_duration, parse_when, say_duration, say_moment

NOW = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # Saturday 23:00 in Paris; the clocks go forward that night
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("words", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("2.5 hours", 9000.0),
        ("half an hour", 1800.0),
        ("1h30m", 5400.0),
        ("1 hour, 2 minutes and 3 seconds", 3723.0),
        ("P1DT2H", 93600.0),
        ("in 5 mins", 300.0),
        ("a week", 604800.0),
    ],
)
def test_durations(words: object, seconds: float) -> None:
    assert parse_duration(words) == seconds


@pytest.mark.parametrize(
    "words", ["", "soon", "5 parsecs", "and 5 minutes", "5 minutes please", "minutes", None, [5]]
)
def test_what_is_not_a_duration(words: object) -> None:
    with pytest.raises(ToolFailed):
        parse_duration(words)


@pytest.mark.parametrize(
    ("when", "due"),
    [
        ("23:30", datetime(2026, 3, 28, 22, 30, tzinfo=UTC)),
        ("9am", datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),  # tomorrow, already summer time (UTC+2)
        ("tomorrow at 9:15 pm", datetime(2026, 3, 29, 19, 15, tzinfo=UTC)),
        ("12am", datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),  # midnight, in an hour
        ("2026-03-30T08:00", datetime(2026, 3, 30, 6, 0, tzinfo=UTC)),
        ("2026-03-30T08:00Z", datetime(2026, 3, 30, 8, 0, tzinfo=UTC)),
        ("in 90 minutes", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),
    ],
)
def test_times_in_the_users_zone(when: str, due: datetime) -> None:
    assert parse_when(when, PARIS, NOW) == due


@pytest.mark.parametrize("when", ["13pm", "9", "24:00", "noonish", "tomorrow", ""])
def test_what_is_not_a_time(when: str) -> None:
    with pytest.raises(ToolFailed):
        parse_when(when, PARIS, NOW)


def test_what_is_said() -> None:
    assert say_duration(3723) == "1 hour 2 minutes"  # two units are enough to say
    assert say_duration(0.2) == "1 second"
    assert say_moment(datetime(2026, 3, 28, 22, 30, tzinfo=UTC), PARIS, NOW) == "23:30:00"
    assert say_moment(datetime(2026, 3, 29, 7, 0, tzinfo=UTC), PARIS, NOW) == "tomorrow at 09:00:00"
    assert say_moment(datetime(2026, 4, 1, 7, 0, tzinfo=UTC), PARIS, NOW) == "Wednesday 1 April at 09:00:00"
