"""From generated text to answer parts: reasoning split off, tool calls parsed (streaming).

Checks what the request asks against what the model can do first: a model without `tools`
in its template, thinking, or vision gets a 400 naming it (never a silent drop).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from harvis.llm.node.registry import ModelFile
from harvis.llm.node.requests import Job
from harvis.llm.node.tools import Part, ToolCallScanner, capabilities
from harvis.llm.reasoning import ThinkSplitter
from harvis.llm.types import BadRequest


def check_capabilities(job: Job, model: ModelFile) -> None:
    caps = capabilities(model.info)
    if "completion" not in caps:
        raise BadRequest(f'"{job.model}" does not support {job.kind}')
    if job.tools and "tools" not in caps:
        raise BadRequest(f'"{job.model}" does not support tools')
    if job.think and "thinking" not in caps:
        raise BadRequest(f'"{job.model}" does not support thinking')
    if job.images:
        raise BadRequest(f'"{job.model}" does not support images (it has no vision)')


class Shaper:
    def __init__(self, tools: bool, thinking: bool, keep_thinking: bool) -> None:
        self._scanner = ToolCallScanner() if tools else None
        self._splitter = ThinkSplitter() if thinking else None
        self._keep_thinking = keep_thinking
        self.called = False

    def _parts(self, content: str, thinking: str, flush: bool) -> Part:
        part = Part(thinking=thinking if self._keep_thinking else "")
        if self._scanner is None:
            part.content = content
            return part
        got = self._scanner.feed(content)
        if flush:
            tail = self._scanner.flush()
            got.content += tail.content
            got.tool_calls += tail.tool_calls
        part.content, part.tool_calls = got.content, got.tool_calls
        self.called = self.called or bool(part.tool_calls)
        return part

    def feed(self, text: str) -> Part:
        content, thinking = self._splitter.feed(text) if self._splitter else (text, "")
        return self._parts(content, thinking, False)

    def flush(self) -> Part:
        content, thinking = self._splitter.flush() if self._splitter else ("", "")
        return self._parts(content, thinking, True)


def _some(part: Part) -> bool:
    return bool(part.content or part.thinking or part.tool_calls)


async def shaped(
    events: AsyncGenerator[str | dict[str, Any], None], job: Job, model: ModelFile
) -> AsyncGenerator[Part | dict[str, Any], None]:
    """job_events' text pieces as Parts; the final dict passes through after the last part."""
    caps = capabilities(model.info)
    thinking = "thinking" in caps
    shaper = Shaper(bool(job.tools), thinking, keep_thinking=job.think is not False)
    try:
        async for event in events:
            if isinstance(event, str):
                part = shaper.feed(event)
                if _some(part):
                    yield part
                continue
            tail = shaper.flush()
            if _some(tail):
                yield tail
            yield event
    finally:
        await events.aclose()
