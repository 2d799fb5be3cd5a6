"""Real MCP servers for the MCP provider's tests: `mcp-server-time` over stdio, this package's
streamable-HTTP server (mcp_http_server.py) as a process on 127.0.0.1, and config entries for them."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import Proc, free_port, running


def passed_env() -> dict[str, str]:
    """What a stdio server of ours needs beyond PATH: the test's PYTHONPATH, where it sets one
    (a stdio server sees nothing else of the test's environment)."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


def time_server_entry() -> dict[str, Any]:
    """`mcp-server-time` (PyPI), run by this interpreter so that it is the venv's copy."""
    return {"command": sys.executable, "args": ["-m", "mcp_server_time"], "env": passed_env()}


def env_server_entry(**env: str) -> dict[str, Any]:
    """A stdio server whose one tool tells the environment it was started with."""
    return {
        "command": sys.executable,
        "args": ["-m", "tests.support.mcp_env_server"],
        "env": {**passed_env(), **env},
    }


def write_config(path: Path, servers: dict[str, dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"mcpServers": servers}), encoding="utf-8")
    return path


@contextmanager
def http_mcp_server(log_dir: Path, port: int | None = None) -> Iterator[Proc]:
    """tests/support/mcp_http_server.py as a process; its endpoint is `proc.url + "/mcp"`."""
    port = port or free_port()
    with running(
        [sys.executable, "-m", "tests.support.mcp_http_server", str(port)],
        base_url=f"http://127.0.0.1:{port}",
        ready_path="/mcp",  # any answer (a 4xx to a bare GET) means it listens
        log_path=log_dir / f"mcp-http-{port}.log",
        timeout=60,
    ) as proc:
        yield proc
