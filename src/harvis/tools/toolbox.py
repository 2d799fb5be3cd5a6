"""Runs the model's tool calls: the tools a user may use, each call bounded in time, every
failure (unknown tool, bad arguments, an error, a timeout) returned as text for the model."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harvis.llm.types import ToolCall
from harvis.tools.base import Tool, ToolContext, ToolFailed, ToolProvider

log = logging.getLogger(__name__)
REMEMBER_NO_TOOLS_S = 600.0
MAX_REMEMBERED = 256


@dataclass(frozen=True)
class ToolOutcome:
    """One call and what came of it, as saved in the conversation and shown in the UI."""

    name: str
    arguments: dict[str, Any]
    result: str  # what the model is told (the tool's answer, or what went wrong)
    ok: bool
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "arguments": self.arguments,
            "result": self.result,
            "ok": self.ok,
            "ms": self.ms,
        }


class Toolbox:
    def __init__(
        self, providers: Sequence[ToolProvider], *, timeout_s: float = 10.0, max_result_chars: int = 8000
    ) -> None:
        self.providers = list(providers)
        self.timeout_s = timeout_s
        self.max_result_chars = max_result_chars
        # Models that answered "does not support tools", and when: not asked with tools again
        # for a while (a model can be replaced by one that has them).
        self._refused: dict[str, float] = {}

    def note_no_tools(self, model: str) -> None:
        if len(self._refused) >= MAX_REMEMBERED:
            self._refused.pop(next(iter(self._refused)))
        self._refused[model] = time.monotonic()

    def knows_no_tools(self, model: str) -> bool:
        since = self._refused.get(model)
        if since is not None and time.monotonic() - since > REMEMBER_NO_TOOLS_S:
            del self._refused[model]
            return False
        return since is not None

    async def tools_for(self, context: ToolContext) -> dict[str, Tool]:
        """The user's tools by name; a provider that fails is left out (and logged), never fatal."""
        found: dict[str, Tool] = {}
        for provider in self.providers:
            try:
                tools = await provider.tools_for(context)
            except Exception:
                log.warning("tools: a provider failed to list its tools", exc_info=True)
                continue
            for tool in tools:
                found.setdefault(tool.spec.name, tool)  # the first provider wins a name
        return found

    async def run(self, call: ToolCall, tools: dict[str, Tool], context: ToolContext) -> ToolOutcome:
        start = time.perf_counter()

        def outcome(result: str, ok: bool) -> ToolOutcome:
            ms = round((time.perf_counter() - start) * 1000.0, 1)
            return ToolOutcome(call.name, call.arguments, result[: self.max_result_chars], ok, ms)

        tool = tools.get(call.name)
        if tool is None:
            return outcome(
                f"error: there is no tool named {call.name!r}; the tools are: {', '.join(tools) or 'none'}",
                False,
            )
        if call.invalid_arguments:
            raw = call.invalid_arguments[:200]
            told = f"error: the arguments of {call.name} were not a JSON object ({raw!r}); send valid JSON"
            return outcome(told, False)
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await tool.call(dict(call.arguments), context)
        except TimeoutError:
            return outcome(f"error: the tool {call.name} did not answer within {self.timeout_s:g} s", False)
        except ToolFailed as exc:
            return outcome(f"error: {exc}", False)
        except Exception as exc:  # a tool's bug is the model's problem to explain, never a 500
            log.exception("tools: %s failed", call.name)
            return outcome(f"error: the tool {call.name} failed ({type(exc).__name__})", False)
        return outcome(result if isinstance(result, str) else json.dumps(result), True)
