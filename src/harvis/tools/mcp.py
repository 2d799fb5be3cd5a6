"""The user's own tools from MCP servers (stdio or streamable HTTP), through the `mcp` SDK.

Each configured server has one client session, kept open by a task of its own (the SDK's
client lives in anyio task groups that must be entered and left by one task), started on first
use and started again on the next use after it died. Its tool list is cached and offered as
"<server>__<tool>"; only the servers an admin granted a user (store.tool_grants) reach that
user's answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CONNECTION_CLOSED, CallToolResult, TextContent
from mcp.types import Tool as McpToolInfo

from harvis.store import tool_grants
from harvis.store.db import Database
from harvis.tools.base import Tool, ToolContext, ToolFailed, ToolSpec
from harvis.tools.mcp_config import McpServerConfig

log = logging.getLogger(__name__)

_NOT_NAME = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, tool: str) -> str:
    """What the model calls: [A-Za-z0-9_-]{1,64}, as Ollama and OpenAI require."""
    return _NOT_NAME.sub("_", f"{server}__{tool}")[:64]


def stdio_parameters(config: McpServerConfig) -> StdioServerParameters:
    """`env -i`: the server sees only its config's variables and PATH; the SDK alone would also
    pass HOME, USER, SHELL … and nothing of the backend's own environment (secrets) may leak."""
    assert config.command is not None
    env = [f"PATH={os.environ.get('PATH', os.defpath)}", *(f"{k}={v}" for k, v in config.env.items())]
    return StdioServerParameters(command="env", args=["-i", *env, config.command, *config.args])


def result_text(result: CallToolResult) -> str:
    """The text parts joined; other parts (images, resources) named, since the model reads text."""
    parts = [
        block.text if isinstance(block, TextContent) else f"[{block.type} content not shown]"
        for block in result.content
    ]
    if not parts and result.structured_content is not None:
        parts = [json.dumps(result.structured_content)]
    return "\n".join(parts)


class McpServer:
    """One configured server: its session, its state, its cached tools."""

    def __init__(self, config: McpServerConfig, *, start_timeout_s: float, retry_after_s: float) -> None:
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.retry_after_s = retry_after_s
        self.state = "not started"  # not started | running | failed | stopped
        self.error: str | None = None
        self.tools: list[McpToolInfo] = []
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failed_at = 0.0

    @property
    def name(self) -> str:
        return self.config.name

    def _target(self) -> StdioServerParameters | str:
        return stdio_parameters(self.config) if self.config.command is not None else str(self.config.url)

    async def _hold(self, ready: asyncio.Future[Client]) -> None:
        """The one task that enters and leaves the client: its session stays open until stopped."""
        try:
            async with Client(self._target()) as client:
                ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            elif not isinstance(exc, asyncio.CancelledError):
                log.info("mcp: the session with %s ended: %r", self.name, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def client(self) -> Client:
        """The open session, started (and its tools listed) if there is none."""
        async with self._lock:
            if self._client is not None and self._task is not None and not self._task.done():
                return self._client
            if self.state == "failed" and time.monotonic() - self._failed_at < self.retry_after_s:
                raise ToolFailed(f"the MCP server {self.name} is not available: {self.error}")
            await self._end()
            self._stop = asyncio.Event()
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._hold(ready), name=f"mcp-{self.name}")
            try:
                async with asyncio.timeout(self.start_timeout_s):
                    client = await asyncio.shield(ready)
                    listing = await client.list_tools()
            except Exception as exc:
                await self._end()
                self.state, self.error, self._failed_at = "failed", _reason(exc), time.monotonic()
                log.warning("mcp: cannot start %s: %s", self.name, self.error)
                raise ToolFailed(f"the MCP server {self.name} is not available: {self.error}") from None
            self._client, self.tools = client, list(listing.tools)
            self.state, self.error = "running", None
            log.info("mcp: %s is running with %d tools", self.name, len(self.tools))
            return client

    async def listed_tools(self) -> list[McpToolInfo]:
        """The cached list; a server never started (or failed and due a retry) is started."""
        if self.state != "running" and not (self.state == "stopped" and self.tools):
            await self.client()
        return self.tools

    async def call(self, tool: str, arguments: dict[str, Any]) -> str:
        client = await self.client()
        try:
            result = await client.call_tool(tool, arguments)
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise ToolFailed(f"the MCP server {self.name} refused the call: {exc.message}") from None
            await self._died("the connection closed during the call")
            raise ToolFailed(
                f"the MCP server {self.name} stopped during the call; it is started again on next use"
            ) from None
        except asyncio.CancelledError:
            raise  # the toolbox's timeout: the SDK tells the server the request is cancelled
        except Exception as exc:
            await self._died(_reason(exc))
            raise ToolFailed(f"the MCP server {self.name} stopped ({_reason(exc)})") from None
        if result.is_error:
            raise ToolFailed(result_text(result) or f"the tool {tool} of {self.name} failed")
        return result_text(result)

    async def _died(self, why: str) -> None:
        async with self._lock:
            await self._end()
            self.state, self.error = "stopped", why
            log.warning("mcp: %s stopped: %s", self.name, why)

    async def _end(self) -> None:
        """Leave the session (stops a stdio server's process); the task is awaited to the end."""
        self._client = None
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        try:
            async with asyncio.timeout(10):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
        with contextlib.suppress(BaseException):
            await task

    async def close(self) -> None:
        async with self._lock:
            await self._end()
            self.state = "not started" if self.state == "running" else self.state


def _reason(exc: BaseException) -> str:
    """One line for a failure that may come wrapped in anyio's exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


@dataclass(frozen=True)
class McpTool:
    server: McpServer
    remote_name: str
    spec: ToolSpec

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        return await self.server.call(self.remote_name, arguments)


def _tools_of(server: McpServer) -> list[Tool]:
    out: list[Tool] = []
    seen: set[str] = set()
    for info in server.tools:
        name = tool_name(server.name, info.name)
        if name in seen:  # two remote names that sanitise alike: the first keeps it
            log.warning(
                "mcp: %s offers two tools named %s once sanitised; the second is left out", server.name, name
            )
            continue
        seen.add(name)
        schema = info.input_schema if info.input_schema.get("type") == "object" else {"type": "object"}
        spec = ToolSpec(name=name, description=info.description or info.title or info.name, parameters=schema)
        out.append(McpTool(server, info.name, spec))
    return out


class McpProvider:
    """The ToolProvider of every configured MCP server, per user by their grants."""

    def __init__(
        self,
        configs: dict[str, McpServerConfig],
        db: Database,
        *,
        start_timeout_s: float = 30.0,
        retry_after_s: float = 30.0,
    ) -> None:
        self.db = db
        self.servers = {
            name: McpServer(config, start_timeout_s=start_timeout_s, retry_after_s=retry_after_s)
            for name, config in configs.items()
        }

    async def granted(self, user_id: str) -> list[McpServer]:
        async with self.db.session() as session:
            names = await tool_grants.servers_for(session, user_id=user_id)
        return [self.servers[n] for n in names if n in self.servers]

    async def tools_for(self, context: ToolContext) -> list[Tool]:
        """A server that cannot start is left out of this answer (and shown failed to admins)."""
        servers = await self.granted(context.user_id)
        listed = await asyncio.gather(*(s.listed_tools() for s in servers), return_exceptions=True)
        tools: list[Tool] = []
        for server, result in zip(servers, listed, strict=True):
            if isinstance(result, BaseException):
                log.info("mcp: %s left out of %s's tools: %s", server.name, context.user_id, result)
                continue
            tools += _tools_of(server)
        return tools

    async def refresh(self) -> None:
        """Start every server not running (for the admin's overview of states and tools)."""
        servers = [s for s in self.servers.values() if s.state != "running"]
        await asyncio.gather(*(s.client() for s in servers), return_exceptions=True)

    async def close(self) -> None:
        await asyncio.gather(*(s.close() for s in self.servers.values()), return_exceptions=True)
