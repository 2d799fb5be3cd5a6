"""The MCP config file: {"mcpServers": {name: {"command", "args", "env"} | {"url"}}}, the shape
Claude Desktop and other MCP clients use. Checked whole at start-up: a bad entry stops
`harvis serve` with one line naming it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvis.store.tool_grants import SERVER_NAME_RE


class McpConfigError(ValueError):
    """The MCP config cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class McpServerConfig:
    name: str
    command: str | None = None  # stdio: the program to start ...
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)  # ... with only this (and PATH) in its environment
    url: str | None = None  # streamable HTTP

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"


def _strings(value: Any, where: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise McpConfigError(f"{where}: {what} must be a list of strings")
    return list(value)


def _server(name: Any, entry: Any) -> McpServerConfig:
    where = f"mcpServers.{name}"
    if not isinstance(name, str) or SERVER_NAME_RE.match(name) is None:
        raise McpConfigError(f"{where}: a server name uses letters, digits, _ and - (at most 32)")
    if not isinstance(entry, dict):
        raise McpConfigError(f"{where}: expected an object with a command or a url")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise McpConfigError(f"{where}: give either a command (stdio) or a url (streamable HTTP)")
    if url is not None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise McpConfigError(f"{where}: url must start with http:// or https://")
        return McpServerConfig(name=name, url=url)
    if not isinstance(command, str) or not command.strip():
        raise McpConfigError(f"{where}: command must be a non-empty string")
    args = _strings(entry.get("args", []), where, "args")
    env = entry.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise McpConfigError(f"{where}: env must map names to strings")
    return McpServerConfig(name=name, command=command, args=tuple(args), env=dict(env))


def parse_mcp_config(document: Any) -> dict[str, McpServerConfig]:
    if not isinstance(document, dict) or not isinstance(document.get("mcpServers"), dict):
        raise McpConfigError('expected an object with "mcpServers": {name: {...}}')
    return {name: _server(name, entry) for name, entry in document["mcpServers"].items()}


def load_mcp_config(path: str | Path) -> dict[str, McpServerConfig]:
    """The servers by name; "" (no file configured) is none."""
    if not str(path):
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise McpConfigError(f"{path}: cannot read: {reason}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise McpConfigError(f"{path}: not valid JSON: {exc}") from None
    try:
        return parse_mcp_config(document)
    except McpConfigError as exc:
        raise McpConfigError(f"{path}: {exc}") from None
