"""The MCP config file: what `harvis serve` accepts, and the one line it exits 2 with otherwise."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harvis.tools.mcp import tool_name
from harvis.tools.mcp_config import McpConfigError, load_mcp_config, parse_mcp_config
from tests.support.backend import backend_env
from tests.support.processes import HARVIS, REPO, free_port


def test_stdio_and_http_entries_are_read() -> None:
    servers = parse_mcp_config(
        {
            "mcpServers": {
                "time": {"command": "uvx", "args": ["mcp-server-time"], "env": {"TZ": "UTC"}},
                "my-web_2": {"url": "http://127.0.0.1:9000/mcp"},
            }
        }
    )
    assert servers["time"].transport == "stdio" and servers["time"].args == ("mcp-server-time",)
    assert servers["time"].env == {"TZ": "UTC"}
    assert servers["my-web_2"].transport == "http" and servers["my-web_2"].url == "http://127.0.0.1:9000/mcp"
    assert load_mcp_config("") == {}, "no file configured: no servers"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"servers": {}}, '"mcpServers"'),
        ({"mcpServers": {"x": {}}}, "mcpServers.x: give either a command"),
        ({"mcpServers": {"x": {"command": "a", "url": "http://h"}}}, "mcpServers.x: give either"),
        ({"mcpServers": {"bad name": {"command": "a"}}}, "mcpServers.bad name: a server name"),
        ({"mcpServers": {"a" * 33: {"command": "a"}}}, "a server name"),
        ({"mcpServers": {"x": {"url": "ftp://h"}}}, "mcpServers.x: url must start"),
        ({"mcpServers": {"x": {"command": "a", "args": "b"}}}, "mcpServers.x: args must be a list"),
        ({"mcpServers": {"x": {"command": "a", "env": {"K": 1}}}}, "mcpServers.x: env must map"),
        ({"mcpServers": {"x": "npx thing"}}, "mcpServers.x: expected an object"),
    ],
)
def test_bad_entries_are_named(document: object, problem: str) -> None:
    with pytest.raises(McpConfigError, match=None) as caught:
        parse_mcp_config(document)
    assert problem in str(caught.value)


def test_tool_names_are_what_models_accept() -> None:
    assert tool_name("time", "get_current_time") == "time__get_current_time"
    assert tool_name("web", "fetch.page v2") == "web__fetch_page_v2"
    assert len(tool_name("s" * 32, "t" * 60)) == 64


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON"),
        (json.dumps({"mcpServers": {"broken": {"args": ["x"]}}}), "mcpServers.broken: give either a command"),
        (json.dumps({"mcpServers": {"no/slash": {"url": "http://h"}}}), "mcpServers.no/slash: a server name"),
    ],
)
def test_serve_stops_on_a_bad_config_with_one_line(tmp_path: Path, content: str | None, problem: str) -> None:
    config = tmp_path / "mcp.json"
    if content is not None:
        config.write_text(content, encoding="utf-8")
    env = backend_env(tmp_path / "data", {"HARVIS_TOOLS__MCP_CONFIG": str(config)})
    result = subprocess.run(
        [*HARVIS, "serve", "--port", str(free_port())],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"harvis serve: bad MCP config: {config}: ") and problem in lines[0], lines[0]
    assert not (tmp_path / "data" / "harvis.db").exists(), "it stops before it starts anything"
