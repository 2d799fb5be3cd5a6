"""What a tool is to Harvis: a name, a JSON-schema of its arguments, and an async call.

Providers (the built-in tools, timers, MCP servers) hand out tools per user; the toolbox
(toolbox.py) runs the model's calls against them, bounded and with every failure turned into
text the model reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ToolSpec:
    name: str  # what the model calls: [A-Za-z0-9_-]{1,64}
    description: str
    parameters: dict[str, Any]  # a JSON schema of type "object"

    def for_llm(self) -> dict[str, Any]:
        """Ollama's and OpenAI's shape of a function tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass(frozen=True)
class ToolContext:
    """Who the call is for: tools act for one user only."""

    user_id: str
    session_id: str | None = None
    timezone: str | None = None  # IANA name from the client (e.g. "Europe/Paris"); None = the server's


class ToolFailed(Exception):
    """A tool could not do what was asked; the message is what the model is told."""


class Tool(Protocol):
    @property
    def spec(self) -> ToolSpec: ...

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        """The result as text for the model; raises ToolFailed with a message for the model."""
        ...


class ToolProvider(Protocol):
    """A source of tools (built-ins, timers, an MCP server)."""

    async def tools_for(self, context: ToolContext) -> list[Tool]: ...
