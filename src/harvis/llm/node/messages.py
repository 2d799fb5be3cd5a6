"""Chat messages and tools in Ollama's shape, checked for the chat template.

Assistant tool calls and `tool` results are kept as the templates read them (Hugging Face's
shape: `tool_calls[].function.{name, arguments}` with arguments an object).
"""

from __future__ import annotations

import json
from typing import Any

from harvis.llm.types import BadRequest

ROLES = ("system", "user", "assistant", "tool")


def _tool_calls(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadRequest(f"{where}: tool_calls must be an array")
    out: list[dict[str, Any]] = []
    for j, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"{where}: tool_calls[{j}] needs function.name")
        args = fn.get("arguments", {})
        if isinstance(args, str):  # OpenAI sends the arguments as a JSON string
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError:
                raise BadRequest(f"{where}: tool_calls[{j}].function.arguments is not valid JSON") from None
        if not isinstance(args, dict):
            raise BadRequest(f"{where}: tool_calls[{j}].function.arguments must be an object")
        entry: dict[str, Any] = {"type": "function", "function": {"name": fn["name"], "arguments": args}}
        if isinstance(call.get("id"), str):
            entry["id"] = call["id"]
        out.append(entry)
    return out


def parse_messages(value: Any) -> tuple[list[dict[str, Any]], bool]:
    """The messages for the template, and whether any carries images."""
    if value is None:
        return [], False
    if not isinstance(value, list):
        raise BadRequest('invalid value for "messages": expected an array')
    out: list[dict[str, Any]] = []
    images = False
    for i, msg in enumerate(value):
        where = f"invalid message at index {i}"
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise BadRequest(f"{where}: needs a string role")
        content = msg.get("content") or ""
        if not isinstance(content, str):
            raise BadRequest(f"{where}: content must be a string")
        item: dict[str, Any] = {"role": msg["role"], "content": content}
        if msg.get("images"):
            images = True
        if msg.get("tool_calls"):
            item["tool_calls"] = _tool_calls(msg["tool_calls"], where)
        for key in ("tool_name", "name", "tool_call_id"):
            if isinstance(msg.get(key), str):
                item[key] = msg[key]
        if "tool_name" in item and "name" not in item:
            item["name"] = item["tool_name"]  # what Hugging Face templates read for a tool result
        thinking = msg.get("thinking")
        if isinstance(thinking, str) and thinking:
            item["reasoning_content"] = thinking
        out.append(item)
    return out, images


def parse_tools(value: Any) -> list[dict[str, Any]]:
    """Function tools in OpenAI's / Ollama's shape; a malformed one is a 400 naming it."""
    if value is None or value == []:
        return []
    if not isinstance(value, list):
        raise BadRequest('invalid value for "tools": expected an array')
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(value):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(fn, dict)
        ):
            raise BadRequest(f'invalid tool at index {i}: expected {{"type": "function", "function": {{…}}}}')
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise BadRequest(f"invalid tool at index {i}: function.name must be a non-empty string")
        params = fn.get("parameters", {"type": "object", "properties": {}})
        if not isinstance(params, dict):
            raise BadRequest(
                f"invalid tool at index {i} ({fn['name']}): parameters must be a JSON schema object"
            )
        out.append({"type": "function", "function": {**fn, "parameters": params}})
    return out
