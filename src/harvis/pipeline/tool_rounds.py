"""The LLM stage of an answer that may use tools: stream, run the calls, stream again.

Each round streams the model's text on as it comes; when a round ends with tool calls, the
chunker is told to say what it holds (Flush), each call is announced, run by the toolbox and
its result shown (Emit frames, in order with the tokens), the calls and results are appended
to the messages in Ollama's shape, and the model is asked again. After `max_rounds` tool rounds
it is asked once more without tools, so that it answers in words. A model without tool
support (the node's 400 "does not support tools") is asked again without them. Both are told
to the consumer (a tool_notice event) and in the timings, never silently.

A voice turn hears the cue ("Let me check.") once when a round of calls takes longer than
`cue_after_s`. Cancelling the stage's task cancels a running call with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, replace
from typing import Any

from harvis.config import ToolSettings
from harvis.llm.types import BadRequest, ChatRequest, Delta, StreamEnd, ToolCall
from harvis.pipeline import events as ev
from harvis.pipeline import frames as fr
from harvis.pipeline.ports import LLMPort
from harvis.tools.base import Tool, ToolContext
from harvis.tools.toolbox import Toolbox, ToolOutcome

NO_TOOL_SUPPORT = "does not support tools"


def _call_key(call: ToolCall) -> str:
    return json.dumps([call.name, call.arguments, call.invalid_arguments], sort_keys=True, default=str)


ROUND_BREAK = "\n\n"  # between the text of two rounds


@dataclass
class ToolUse:
    """What the answer's tool rounds did (saved with the answer, shown in the timings)."""

    outcomes: list[ToolOutcome]
    rounds: int = 0
    capped: bool = False
    unsupported: bool = False
    ms: float = 0.0


class ToolRounds:
    def __init__(
        self,
        *,
        llm: LLMPort,
        toolbox: Toolbox | None,
        context: ToolContext | None,
        settings: ToolSettings,
        cue: bool,
        timings: dict[str, float | None],
        gate: asyncio.Event | None = None,
    ) -> None:
        self.llm, self.toolbox, self.context, self.settings = llm, toolbox, context, settings
        # A speculative answer may stream and ask for tools, but runs none (they act: a timer)
        # before its turn is committed and opens the gate.
        self.gate = gate
        self.cue, self.timings = cue, timings  # cue: a voice turn (it can be spoken)
        self.use = ToolUse(outcomes=[])
        self._cued = False
        self._said = False  # some round has streamed text already

    async def run(self, request: ChatRequest, inbox: asyncio.Queue[fr.ChunkerFrame]) -> None:
        """Every round into `inbox`; LLM errors propagate (the caller reports them)."""
        tools = await self._tools()
        specs = [t.spec.for_llm() for t in tools.values()]
        if specs and self.toolbox is not None and self.toolbox.knows_no_tools(request.model):
            specs = []  # refused a moment ago: no need to be refused again, but still said
            self._no_tools(request.model, inbox)
        messages = self._instructed(request.messages) if specs else list(request.messages)
        asked: set[str] = set()  # the calls made so far (name and arguments)
        answer_now = False  # ask without tools: the model has what it needs
        while True:
            more = self.use.rounds < self.settings.max_rounds and not self.use.unsupported
            offer = specs if more and not answer_now else []
            this = replace(request, messages=messages, tools=offer)
            try:
                text, calls = await self._round(this, inbox)
            except BadRequest as exc:
                if not offer or NO_TOOL_SUPPORT not in exc.message:
                    raise
                if self.toolbox is not None:
                    self.toolbox.note_no_tools(request.model)
                if not self.use.rounds:  # nothing about tools for a model that has none
                    messages = list(request.messages)
                self._no_tools(request.model, inbox)
                continue
            if offer and not calls and not text.strip() and self.use.rounds and not answer_now:
                answer_now = True  # nothing said after the results: asked once more, for words
                continue
            if not calls or not offer:
                return  # calls made without tools offered (capped) are not run
            keys = {_call_key(c) for c in calls}
            if keys <= asked:
                # Small models ask again for what they were just told; its answer is in the
                # messages already, so the model is asked to say it instead of looping.
                answer_now = True
                self.timings["tool_calls_repeated"] = 1.0
                continue
            asked |= keys
            self.use.rounds += 1
            self.timings["tool_rounds"] = float(self.use.rounds)
            outcomes = await self._run_calls(calls, tools, inbox)
            messages = [*messages, *self._exchange(text, calls, outcomes)]
            if self.use.rounds >= self.settings.max_rounds:
                self.use.capped = True
                self.timings["tool_rounds_capped"] = 1.0
                message = f"The model used tools {self.use.rounds} times; it answers without more."
                inbox.put_nowait(fr.Emit(ev.ToolNotice("tool_rounds_exhausted", message)))

    def _no_tools(self, model: str, inbox: asyncio.Queue[fr.ChunkerFrame]) -> None:
        self.use.unsupported = True
        self.timings["tools_unsupported"] = 1.0
        message = f"{model} cannot use tools; it answers without them."
        inbox.put_nowait(fr.Emit(ev.ToolNotice("tools_unsupported", message)))

    async def _tools(self) -> dict[str, Tool]:
        if self.toolbox is None or self.context is None or not self.settings.enabled:
            return {}
        return await self.toolbox.tools_for(self.context)

    async def _round(
        self, request: ChatRequest, inbox: asyncio.Queue[fr.ChunkerFrame]
    ) -> tuple[str, list[ToolCall]]:
        """One stream: text and reasoning go on at once; the calls are kept for after it."""
        text, calls = "", list[ToolCall]()
        first = True
        async with contextlib.aclosing(self.llm.stream_chat(request)) as stream:
            async for item in stream:
                if isinstance(item, Delta):
                    calls.extend(item.tool_calls)
                    content = item.content
                    if content and first and self._said:
                        content = ROUND_BREAK + content.lstrip()
                    if content:
                        first, self._said, text = False, True, text + item.content
                    if content or item.reasoning:
                        inbox.put_nowait(Delta(content=content, reasoning=item.reasoning))
                elif isinstance(item, StreamEnd):
                    inbox.put_nowait(item)
        return text, calls

    async def _run_calls(
        self, calls: list[ToolCall], tools: dict[str, Tool], inbox: asyncio.Queue[fr.ChunkerFrame]
    ) -> list[ToolOutcome]:
        inbox.put_nowait(fr.Flush())
        if self.gate is not None:
            await self.gate.wait()
        assert self.toolbox is not None and self.context is not None
        # A plain timer, not a task: the calls run in this task, so a cancel reaches them.
        timer = None
        if self.cue and not self._cued:
            timer = asyncio.get_running_loop().call_later(self.settings.cue_after_s, self._speak_cue, inbox)
        start = time.perf_counter()
        outcomes = []
        try:
            for index, call in enumerate(calls):
                inbox.put_nowait(
                    fr.Emit(ev.ToolCallStarted(self.use.rounds, index, call.name, call.arguments))
                )
                outcome = await self.toolbox.run(call, tools, self.context)
                outcomes.append(outcome)
                self.use.outcomes.append(outcome)
                inbox.put_nowait(
                    fr.Emit(
                        ev.ToolResult(
                            self.use.rounds, index, call.name, outcome.result, outcome.ok, outcome.ms
                        )
                    )
                )
        finally:
            if timer is not None:
                timer.cancel()
            self.use.ms += (time.perf_counter() - start) * 1000.0
            self.timings["tools_ms"] = round(self.use.ms, 1)
        return outcomes

    def _speak_cue(self, inbox: asyncio.Queue[fr.ChunkerFrame]) -> None:
        if not self._cued:
            self._cued = True
            inbox.put_nowait(fr.Cue())

    def _instructed(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages with the tool instructions in the system message (made if none)."""
        hint = self.settings.instructions.strip()
        if not hint:
            return list(messages)
        if messages and messages[0].get("role") == "system":
            first = dict(messages[0], content=f"{messages[0].get('content') or ''}\n\n{hint}".strip())
            return [first, *messages[1:]]
        return [{"role": "system", "content": hint}, *messages]

    @staticmethod
    def _exchange(text: str, calls: list[ToolCall], outcomes: list[ToolOutcome]) -> list[dict[str, Any]]:
        """The round in Ollama's /api/chat shape: the assistant's calls, then one result each."""
        wire_calls = []
        for call in calls:
            entry: dict[str, Any] = {"function": {"name": call.name, "arguments": call.arguments}}
            if call.id:
                entry["id"] = call.id
            wire_calls.append(entry)
        results = [{"role": "tool", "content": o.result, "tool_name": o.name} for o in outcomes]
        return [{"role": "assistant", "content": text, "tool_calls": wire_calls}, *results]
