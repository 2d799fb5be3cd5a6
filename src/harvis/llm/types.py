"""What flows between the LLM layer and its users (API, pipeline): requests, deltas, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harvis.errors import HarvisError


@dataclass(frozen=True)
class ToolCall:
    """The model asks for a tool: Ollama's `message.tool_calls[i].function`, OpenAI's call."""

    name: str
    arguments: dict[str, Any]  # parsed JSON object
    id: str = ""  # the call's id where the server gives one (OpenAI), else ""
    # Set when the model's arguments were not a JSON object (then `arguments` is {}): the
    # toolbox tells the model so instead of failing the answer.
    invalid_arguments: str = ""


@dataclass(frozen=True)
class ChatRequest:
    model: str  # a model group name as the router knows it, e.g. "smollm2:135m"
    # In Ollama's /api/chat shape: {"role": "system"|"user"|"assistant"|"tool", "content": str,
    # and where they apply "tool_calls": [{"function": {"name", "arguments"}}], "tool_name"}.
    messages: list[dict[str, Any]]
    options: dict[str, Any] = field(default_factory=dict)  # Ollama options (temperature, seed…)
    keep_alive: str | int | None = None  # None = the configured default
    format: str | dict[str, Any] | None = None  # "json", a JSON schema, or None
    # Function tools in OpenAI's / Ollama's shape: {"type": "function", "function": {name,
    # description, parameters}}. Empty = no tools.
    tools: list[dict[str, Any]] = field(default_factory=list)
    think: bool | None = None  # ask a thinking model to think (None = the model's default)


@dataclass(frozen=True)
class Delta:
    """A piece of the answer as it streams; reasoning (<think>…</think>, Ollama's `thinking`)
    is kept apart, and so are the tool calls the model makes."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class StreamEnd:
    """The last item of every successful stream."""

    served_by: str  # deployment id, e.g. "smollm2:135m@http://127.0.0.1:11434"
    model: str  # the model group that answered (differs from the request's on fallback)
    fallback: bool = False
    fallback_from: str | None = None
    done_reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None  # time to first token, seen by the router
    total_s: float = 0.0
    attempts: int = 1


@dataclass(frozen=True)
class ModelInfo:
    name: str  # model group
    deployment: str  # deployment id
    node: str  # api_base
    provider: str  # "ollama" | "openai"
    loaded: bool = False
    healthy: bool = True


class LLMError(HarvisError):
    """Every failure of the LLM layer; `status` is the HTTP status to surface to clients."""

    status = 502
    code = "llm_error"


class BadRequest(LLMError):
    status = 400
    code = "bad_request"


class ModelNotFound(LLMError):
    status = 404
    code = "model_not_found"


class NoCapacity(LLMError):
    """Every deployment is busy or cooling down; try again after `retry_after` seconds."""

    status = 503
    code = "no_capacity"


class Unavailable(LLMError):
    """No deployment of the model could be reached."""

    status = 503
    code = "llm_unavailable"


class UpstreamError(LLMError):
    status = 502
    code = "upstream_error"


class StreamBroken(LLMError):
    """The stream failed after its first token: what was sent stays sent, nothing is retried."""

    status = 502
    code = "stream_broken"


class UpstreamTimeout(UpstreamError):
    """The upstream did not connect, send its first byte, or its next chunk in time."""

    status = 504
    code = "upstream_timeout"


class UpstreamAuthError(UpstreamError):
    """The upstream refused our credentials (a cloud API key that is wrong or revoked)."""

    status = 502
    code = "upstream_auth"
