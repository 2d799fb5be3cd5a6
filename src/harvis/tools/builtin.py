"""The tools every user has: the current time in their time zone, and arithmetic.

Small models get times and sums wrong; these two are cheap, safe and need nothing outside the
process. `calculate` walks the expression's syntax tree itself (no eval): numbers, + - * / //
% **, unary signs and parentheses, with the exponent and the size of every value bounded so
that one call cannot eat the CPU or the memory.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from harvis.tools.base import Tool, ToolContext, ToolFailed, ToolSpec

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1000
MAX_DIGITS = 1000  # an integer result longer than this is refused (10**10**10 would hang)
MAX_BITS = int(MAX_DIGITS * math.log2(10))
MAX_NODES = 200

Number = int | float
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def zone_of(name: str | None) -> dt.tzinfo:
    """The user's time zone; None = the server's own. An unknown name is the model's to hear."""
    if not name:
        local = dt.datetime.now().astimezone().tzinfo
        return local if local is not None else dt.UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolFailed(f"the time zone {name!r} is not a known IANA time zone") from None


def is_known_zone(name: str) -> bool:
    try:
        zone_of(name)
    except ToolFailed:
        return False
    return True


def describe_now(zone_name: str | None, now: dt.datetime | None = None) -> str:
    zone = zone_of(zone_name)
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    offset = local.strftime("%z")
    label = zone_name or "the server's time zone"
    return f"{local:%A}, {local:%Y-%m-%d}, {local:%H:%M} ({label}, UTC{offset[:3]}:{offset[3:]})"


def _check(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolFailed("only numbers are allowed")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolFailed("the result is not a finite number")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise ToolFailed(f"the result has more than about {MAX_DIGITS} digits")
    return value


def _eval(node: ast.AST) -> Number:
    if isinstance(node, ast.Constant):
        return _check(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _check(_UNARY[type(node.op)](_eval(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise ToolFailed(f"exponents are limited to {MAX_EXPONENT}")
        try:
            return _check(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolFailed("division by zero") from None
        except OverflowError:
            raise ToolFailed("the result is too large") from None
    raise ToolFailed(f"{type(node).__name__} is not allowed: use numbers, + - * / // % ** and parentheses")


def calculate(expression: str) -> str:
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise ToolFailed("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolFailed(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolFailed(f"{expression!r} is not an arithmetic expression") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ToolFailed("the expression is too long")
    value = _eval(tree.body)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


class _CurrentTime:
    spec = ToolSpec(
        name="get_current_time",
        description="The current date, time and weekday where the user is.",
        parameters={"type": "object", "properties": {}, "required": []},
    )

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return describe_now(context.timezone)


class _Calculate:
    spec = ToolSpec(
        name="calculate",
        description="Evaluate an arithmetic expression exactly, e.g. '12*34' or '(2+3)**2/7'.",
        parameters={
            "type": "object",
            "properties": {
                "expression": {
                    "type": "string",
                    "description": "numbers with + - * / // % ** and parentheses",
                }
            },
            "required": ["expression"],
        },
    )

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        expression = arguments.get("expression")
        if not isinstance(expression, str):
            if isinstance(expression, int | float) and not isinstance(expression, bool):
                expression = str(expression)
            else:
                raise ToolFailed('calculate needs {"expression": "an arithmetic expression"}')
        # The whole equation, not the bare number: small models read it back more reliably.
        return f"{expression.strip()} = {calculate(expression)}"


class BuiltinTools:
    """A ToolProvider: the same two tools for every user."""

    def __init__(self) -> None:
        self._tools: list[Tool] = [_CurrentTime(), _Calculate()]

    async def tools_for(self, context: ToolContext) -> list[Tool]:
        return list(self._tools)
