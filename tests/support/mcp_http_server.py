"""A tiny MCP server over streamable HTTP (the SDK's MCPServer, formerly FastMCP), for the MCP
provider's tests: `python -m tests.support.mcp_http_server PORT`. Its tools echo, never answer,
fail, or kill the whole process in the middle of a call (as a crash would)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("harvis-test", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Repeat the text back."""
    return f"echo: {text}"


@server.tool()
async def never_answers() -> str:
    """Never returns (until cancelled)."""
    await asyncio.Event().wait()
    return "unreachable"


@server.tool()
def fails(reason: str) -> str:
    """Always fails, with the reason given."""
    raise ToolError(f"failed on purpose: {reason}")


@server.tool()
def dies() -> str:
    """Kills this server's process while the call is in flight."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


@server.tool()
def pid() -> str:
    """This server's process id (tells a restart apart)."""
    return str(os.getpid())


if __name__ == "__main__":
    server.run(transport="streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
