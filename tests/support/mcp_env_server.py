"""A stdio MCP server whose one tool answers with the environment it was started with
(`python -m tests.support.mcp_env_server`): shows what a stdio server may see."""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("harvis-env", log_level="WARNING")


@server.tool()
def environ() -> str:
    """This process's environment variables, as JSON."""
    return json.dumps(dict(os.environ))


if __name__ == "__main__":
    server.run()
