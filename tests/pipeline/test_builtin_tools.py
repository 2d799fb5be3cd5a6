"""The built-in tools: the time where the user is, and arithmetic without eval."""

from __future__ import annotations

import datetime as dt

import pytest

from harvis.tools.base import ToolContext, ToolFailed
from harvis.tools.builtin import BuiltinTools, calculate, describe_now


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("12*34", "408"),
        ("(2 + 3) ** 2 / 5", "5"),
        ("7 // 2 + 7 % 2", "4"),
        ("-3 + +4", "1"),
        ("1 / 3", "0.3333333333333333"),
        ("2^10", "1024"),
        ("0.1 + 0.2", "0.30000000000000004"),
    ],
)
def test_calculate_does_arithmetic(expression: str, value: str) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("__import__('os').system('true')", "not allowed"),
        ("(lambda: 1)()", "not allowed"),
        ("x + 1", "not allowed"),
        ("'a' * 3", "only numbers"),
        ("True + 1", "only numbers"),
        ("1 / 0", "division by zero"),
        ("2 ** 100000", "exponents are limited"),
        ("10 ** 999 * 100", "more than about 1000 digits"),
        ("(10 ** 900) * (10 ** 900)", "more than about 1000 digits"),
        ("10.0 ** 400", "too large"),
        ("1 +", "not an arithmetic expression"),
        ("", "empty"),
        ("1+" * 400 + "1", "longer than"),
    ],
)
def test_calculate_refuses_what_is_not_bounded_arithmetic(expression: str, why: str) -> None:
    with pytest.raises(ToolFailed, match=why):
        calculate(expression)


def test_the_time_is_told_in_the_users_zone() -> None:
    now = dt.datetime(2026, 12, 2, 23, 30, tzinfo=dt.UTC)
    assert describe_now("Asia/Tokyo", now) == "Thursday, 2026-12-03, 08:30 (Asia/Tokyo, UTC+09:00)"
    assert (
        describe_now("America/New_York", now) == "Wednesday, 2026-12-02, 18:30 (America/New_York, UTC-05:00)"
    )
    with pytest.raises(ToolFailed, match="'Mars/Olympus' is not a known IANA time zone"):
        describe_now("Mars/Olympus", now)


async def test_the_provider_hands_out_both_tools() -> None:
    tools = {t.spec.name: t for t in await BuiltinTools().tools_for(ToolContext(user_id="u"))}
    assert set(tools) == {"get_current_time", "calculate"}
    assert await tools["calculate"].call({"expression": " 6*7"}, ToolContext(user_id="u")) == "6*7 = 42"
    told = await tools["get_current_time"].call({}, ToolContext(user_id="u", timezone="UTC"))
    assert "(UTC, UTC+00:00)" in told
    with pytest.raises(ToolFailed, match="expression"):
        await tools["calculate"].call({"expr": "1"}, ToolContext(user_id="u"))
    assert tools["calculate"].spec.for_llm()["function"]["parameters"]["required"] == ["expression"]
