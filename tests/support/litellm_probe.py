"""Run by LiteLLM's own test venv (.venv-litellm, see the Makefile), not by the test runner:
`python tests/support/litellm_probe.py NODE_URL MODEL` calls the node through LiteLLM's
`ollama_chat/` provider with a tool, twice (the call, then the answer to its result), and once
streamed, and prints what came back as JSON. Every connection or name lookup other than the
loopback is refused and reported: LiteLLM must not touch the network."""

from __future__ import annotations

import json
import os
import socket
import sys
from typing import Any

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # its model price list from the package, not the web
outside: list[str] = []
_connect = socket.socket.connect
_getaddrinfo = socket.getaddrinfo
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
        outside.append(f"connect {address}")
        raise OSError("network refused by the test")
    return _connect(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host not in (*LOOPBACK, None):
        outside.append(f"lookup {host}")
        raise socket.gaierror("name lookup refused by the test")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo

import litellm  # noqa: E402 - after the guard, so that its import is watched too

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
SYSTEM = (
    "You are a weather assistant. Use get_weather to look up weather. After you receive the tool's "
    "response, never call a tool again; tell the user the result in plain English."
)


def main(url: str, model: str) -> None:
    common: dict[str, Any] = {
        "model": f"ollama_chat/{model}",
        "api_base": url,
        "tools": [WEATHER],
        "temperature": 0,
        "max_tokens": 64,
        "seed": 1,
    }
    first = litellm.completion(messages=ASK, **common)
    message = first.choices[0].message
    calls = [
        {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
        for c in message.tool_calls or []
    ]
    history = [
        {"role": "system", "content": SYSTEM},
        *ASK,
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [c.model_dump() for c in message.tool_calls or []],
        },
        *[
            {
                "role": "tool",
                "content": "Sunny, 23 degrees Celsius",
                "tool_call_id": c["id"],
                "name": c["name"],
            }
            for c in calls
        ],
    ]
    answer = litellm.completion(messages=history, **common).choices[0].message
    streamed_calls: list[dict[str, Any]] = []
    for chunk in litellm.completion(messages=ASK, stream=True, **common):
        for c in chunk.choices[0].delta.tool_calls or []:
            streamed_calls.append({"name": c.function.name, "arguments": c.function.arguments})
    print(
        json.dumps(
            {
                "version": litellm.version if hasattr(litellm, "version") else None,
                "first_finish": first.choices[0].finish_reason,
                "first_content": message.content,
                "calls": calls,
                "answer": answer.content,
                "answer_calls": len(answer.tool_calls or []),
                "streamed_calls": streamed_calls,
                "outside": outside,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
