"""What a GGUF can do (from its chat template), and tool calls parsed out of generated text.

A template that reads `tools` renders them into the prompt itself (Qwen2.5, Llama 3.1…); the
model then answers with `<tool_call>{"name": …, "arguments": {…}}</tool_call>` blocks (the
Hermes format those templates teach) or, for templates without tags, one bare JSON object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from harvis.llm.node.gguf_meta import GGUFInfo

OPEN, CLOSE = "<tool_call>", "</tool_call>"
FENCE = "```"
# Architectures llama.cpp runs as encoders: embedding models, no chat.
_ENCODERS = ("bert", "nomic-bert", "jina-bert-v2", "t5encoder", "modern-bert", "neo-bert")


def capabilities(info: GGUFInfo) -> list[str]:
    """Ollama's /api/show capabilities, told from the file: never "vision" (no projector here)."""
    if info.architecture in _ENCODERS or f"{info.architecture}.pooling_type" in info.metadata:
        return ["embedding"]
    template = info.chat_template
    caps = ["completion"]
    if "tools" in template:
        caps.append("tools")
    if "<think>" in template:
        caps.append("thinking")
    return caps


@dataclass
class Part:
    """One piece of an answer: text, reasoning, and/or finished tool calls."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)


def parse_call(text: str, index: int) -> dict[str, Any] | None:
    """Ollama's tool_calls entry for one call's JSON, or None when it is not a call."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        return None
    args = data.get("arguments", data.get("parameters", {}))
    if isinstance(args, str):  # some models quote the arguments object
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    if not isinstance(args, dict):
        return None
    return {"function": {"index": index, "name": data["name"], "arguments": args}}


class ToolCallScanner:
    """Splits streamed text into content and tool calls; holds back only what may be a call.

    Text that merely could start `<tool_call>` is held until decided; a call's JSON is held
    until its closing tag. An answer that begins with "{" is held to the end (a bare JSON
    call). A block that does not parse goes out as content: text is never lost.
    """

    def __init__(self) -> None:
        self._buf = ""
        self._in_call = False
        self._bare: bool | None = None  # decided at the first non-space character
        self._count = 0

    def _call(self, text: str) -> dict[str, Any] | None:
        call = parse_call(text.strip(), self._count)
        if call is not None:
            self._count += 1
        return call

    def feed(self, text: str) -> Part:
        part = Part()
        self._buf += text
        if self._bare is None:
            head = self._buf.lstrip()
            if not head or (FENCE.startswith(head) and len(head) < len(FENCE)):
                return part  # not decided yet
            self._bare = head.startswith(("{", "[", FENCE))
        if self._bare:
            return part
        while True:
            if self._in_call:
                end = self._buf.find(CLOSE)
                if end < 0:
                    return part
                body, self._buf, self._in_call = self._buf[:end], self._buf[end + len(CLOSE) :], False
                call = self._call(body)
                if call is None:
                    part.content += OPEN + body + CLOSE
                else:
                    part.tool_calls.append(call)
                continue
            start = self._buf.find(OPEN)
            if start >= 0:
                part.content += self._buf[:start]
                self._buf, self._in_call = self._buf[start + len(OPEN) :], True
                continue
            keep = next(
                (k for k in range(min(len(OPEN) - 1, len(self._buf)), 0, -1) if self._buf.endswith(OPEN[:k])),
                0,
            )
            part.content += self._buf[: len(self._buf) - keep]
            self._buf = self._buf[len(self._buf) - keep :]
            return part

    def flush(self) -> Part:
        part = Part()
        rest, self._buf = self._buf, ""
        if self._bare:
            stripped = rest.strip()
            calls = _bare_calls(stripped, self._count)
            if calls:
                part.tool_calls = calls
                self._count += len(calls)
            else:
                part.content = rest
        elif self._in_call:  # the answer ended inside a call (no closing tag)
            call = self._call(rest)
            if call is None:
                part.content = OPEN + rest
            else:
                part.tool_calls.append(call)
        else:
            part.content = rest
        return part


def _bare_calls(text: str, first: int) -> list[dict[str, Any]]:
    """Calls from an answer that is only JSON: one object, a list, or either in a ``` fence
    (Qwen2.5-Coder often fences its call instead of tagging it)."""
    if text.startswith(FENCE) and text.endswith(FENCE) and "\n" in text:
        text = text[text.index("\n") + 1 : -len(FENCE)].strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    items = data if isinstance(data, list) else [data]
    calls = [parse_call(json.dumps(item), first + i) for i, item in enumerate(items)]
    return [c for c in calls if c is not None] if all(c is not None for c in calls) else []
