"""OpenAI's chat/completions shapes (as Ollama's /v1 answers them), streamed as SSE or whole."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from harvis.llm.node.responses import Wire
from harvis.llm.node.tools import Part

_SSE = b"text/event-stream"


def openai_error(message: str, status: int) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "api_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _calls(calls: list[dict[str, Any]], streamed: bool) -> list[dict[str, Any]]:
    out = []
    for i, call in enumerate(calls):
        fn = call["function"]
        entry: dict[str, Any] = {
            "id": "call_" + uuid.uuid4().hex[:8],
            "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(fn["arguments"])},
        }
        if streamed:
            entry["index"] = fn.get("index", i)
        out.append(entry)
    return out


def _usage(final: dict[str, Any]) -> dict[str, int]:
    p, c = int(final.get("prompt_eval_count", 0)), int(final.get("eval_count", 0))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish(final: dict[str, Any], called: bool) -> str:
    if called:
        return "tool_calls"
    return "length" if final.get("done_reason") == "length" else "stop"


class OpenAIWire(Wire):
    def __init__(self, model: str, kind: str, include_usage: bool) -> None:
        self.model, self.kind, self.include_usage = model, kind, include_usage
        self.id = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:12]
        self.created = int(time.time())
        self._called = False

    def content_type(self, stream: bool) -> bytes:
        return _SSE if stream else b"application/json"

    def _obj(self, choices: list[dict[str, Any]], streamed: bool) -> dict[str, Any]:
        if self.kind == "chat":
            obj = "chat.completion.chunk" if streamed else "chat.completion"
        else:
            obj = "text_completion"
        return {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": "fp_ollama",
            "choices": choices,
        }

    @staticmethod
    def _event(obj: Any) -> bytes:
        return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"

    def _delta(self, part: Part) -> dict[str, Any]:
        delta: dict[str, Any] = {"role": "assistant", "content": part.content}
        if part.thinking:
            delta["reasoning"] = part.thinking
        if part.tool_calls:
            self._called = True
            delta["tool_calls"] = _calls(part.tool_calls, streamed=True)
        return delta

    def piece(self, part: Part) -> bytes:
        if self.kind == "chat":
            choice = {"index": 0, "delta": self._delta(part), "finish_reason": None}
        else:
            choice = {"index": 0, "text": part.content, "finish_reason": None}
        return self._event(self._obj([choice], True))

    def final(self, whole: Part, final: dict[str, Any], stream: bool) -> bytes:
        if stream:
            finish = _finish(final, self._called)
            if self.kind == "chat":
                last = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": finish}
            else:
                last = {"index": 0, "text": "", "finish_reason": finish}
            out = self._event(self._obj([last], True))
            if self.include_usage:
                out += self._event({**self._obj([], True), "usage": _usage(final)})
            return out + b"data: [DONE]\n\n"
        finish = _finish(final, bool(whole.tool_calls))
        if self.kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": whole.content}
            if whole.thinking:
                message["reasoning"] = whole.thinking
            if whole.tool_calls:
                message["tool_calls"] = _calls(whole.tool_calls, streamed=False)
            choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": whole.content, "finish_reason": finish}
        return json.dumps({**self._obj([choice], False), "usage": _usage(final)}).encode()

    def error(self, message: str, status: int, started: bool) -> bytes:
        body = openai_error(message, status)
        return self._event(body) if started else json.dumps(body).encode()
