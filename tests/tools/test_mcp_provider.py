"""The MCP provider against real MCP servers: `mcp-server-time` over stdio and a small
streamable-HTTP server process, called through Toolbox.run as the tool loop calls them."""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime
from pathlib import Path

import pytest

from harvis.llm.types import ToolCall
from harvis.store import tool_grants, users
from harvis.store.db import Database
from harvis.tools.base import ToolContext
from harvis.tools.mcp import McpProvider, tool_name
from harvis.tools.mcp_config import load_mcp_config
from harvis.tools.toolbox import Toolbox
from tests.support.mcp_servers import env_server_entry, http_mcp_server, time_server_entry, write_config
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow


async def make_user(db: Database, name: str, servers: list[str]) -> ToolContext:
    async with db.session() as s:
        user = await users.create_user(s, username=name, password_hash="x", is_admin=False)
        await tool_grants.set_servers(s, user_id=user.id, servers=servers)
        await s.commit()
        return ToolContext(user_id=user.id)


def provider_for(tmp_path: Path, db: Database, servers: dict[str, dict[str, object]]) -> McpProvider:
    return McpProvider(load_mcp_config(write_config(tmp_path / "mcp.json", servers)), db, start_timeout_s=60)


def child_pids(marker: str) -> list[int]:
    """This test process's children whose command line holds `marker`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z" and marker in cmdline:
            found.append(int(stat.parent.name))
    return found


async def test_time_server_over_stdio_through_the_toolbox(tmp_path: Path, db: Database) -> None:
    provider = provider_for(tmp_path, db, {"time": time_server_entry()})
    toolbox = Toolbox([provider], timeout_s=60)
    try:
        alice = await make_user(db, "alice", ["time"])
        tools = await toolbox.tools_for(alice)
        assert {"time__get_current_time", "time__convert_time"} <= set(tools)
        spec = tools["time__get_current_time"].spec
        assert spec.parameters["type"] == "object" and "timezone" in spec.parameters["properties"]

        out = await toolbox.run(ToolCall("time__get_current_time", {"timezone": "Etc/UTC"}), tools, alice)
        assert out.ok, out.result
        answer = json.loads(out.result)
        assert answer["timezone"] == "Etc/UTC"
        assert datetime.fromisoformat(answer["datetime"]).utcoffset().total_seconds() == 0  # type: ignore[union-attr]

        bad = await toolbox.run(
            ToolCall("time__get_current_time", {"timezone": "Nowhere/Atlantis"}), tools, alice
        )
        assert not bad.ok and "Invalid timezone" in bad.result, bad.result

        # One session for the server: a second call does not start another process.
        assert len(child_pids("mcp_server_time")) == 1
        again = await toolbox.run(
            ToolCall(
                "time__convert_time",
                {"source_timezone": "Etc/UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
            ),
            tools,
            alice,
        )
        assert again.ok and "Asia/Tokyo" in again.result, again.result
        assert len(child_pids("mcp_server_time")) == 1
    finally:
        await provider.close()
    assert child_pids("mcp_server_time") == [], "closing the provider stops the server process"


async def test_a_stdio_server_that_died_is_started_again_on_next_use(tmp_path: Path, db: Database) -> None:
    provider = provider_for(tmp_path, db, {"time": time_server_entry()})
    toolbox = Toolbox([provider], timeout_s=60)
    try:
        bob = await make_user(db, "bob", ["time"])
        tools = await toolbox.tools_for(bob)
        call = ToolCall("time__get_current_time", {"timezone": "Etc/UTC"})
        assert (await toolbox.run(call, tools, bob)).ok
        [pid] = child_pids("mcp_server_time")
        os.kill(pid, signal.SIGKILL)
        wait_until(
            lambda: pid not in child_pids("mcp_server_time"), timeout=20, what="the killed server gone"
        )

        failed = await toolbox.run(call, tools, bob)
        assert not failed.ok and "the MCP server time stopped" in failed.result, failed.result
        assert provider.servers["time"].state == "stopped"
        tools = await toolbox.tools_for(bob)  # the cached list: still offered
        assert "time__get_current_time" in tools
        back = await toolbox.run(call, tools, bob)
        assert back.ok, back.result
        [new_pid] = child_pids("mcp_server_time")
        assert new_pid != pid and provider.servers["time"].state == "running"
    finally:
        await provider.close()


async def test_a_stdio_server_sees_only_its_config_env_and_path(
    tmp_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARVIS_SECRET_KEY", "backend-secret-that-must-not-leak")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    provider = provider_for(tmp_path, db, {"env": env_server_entry(GREETING="hello from the config")})
    toolbox = Toolbox([provider], timeout_s=60)
    try:
        carol = await make_user(db, "carol", ["env"])
        tools = await toolbox.tools_for(carol)
        out = await toolbox.run(ToolCall("env__environ", {}), tools, carol)
        assert out.ok, out.result
        seen = json.loads(out.result)
    finally:
        await provider.close()
    assert seen["GREETING"] == "hello from the config"
    assert seen["PATH"] == os.environ["PATH"]
    leaked = {"HARVIS_SECRET_KEY", "OPENAI_API_KEY", "HOME", "USER"} & set(seen)
    assert not leaked, f"the backend's environment leaked into the MCP server: {leaked}"
    # Python itself may add LC_CTYPE (PEP 538); nothing else beyond the config and PATH.
    assert set(seen) - {"GREETING", "PATH", "PYTHONPATH", "LC_CTYPE"} == set()


async def test_grants_decide_whose_answers_get_which_servers(tmp_path: Path, db: Database) -> None:
    with http_mcp_server(tmp_path) as http:
        provider = provider_for(
            tmp_path, db, {"time": time_server_entry(), "web": {"url": http.url + "/mcp"}}
        )
        toolbox = Toolbox([provider], timeout_s=60)
        try:
            nobody = await make_user(db, "dave", [])
            only_web = await make_user(db, "erin", ["web"])
            assert await toolbox.tools_for(nobody) == {}
            assert provider.servers["time"].state == "not started", "nobody's grant: nothing started"
            names = set(await toolbox.tools_for(only_web))
            assert names == {tool_name("web", t) for t in ("echo", "never_answers", "fails", "dies", "pid")}
            # A tool of a server the user has no grant for is unknown to that user's toolbox.
            out = await toolbox.run(
                ToolCall("web__echo", {"text": "hi"}), await toolbox.tools_for(nobody), nobody
            )
            assert not out.ok and "there is no tool named 'web__echo'" in out.result
        finally:
            await provider.close()


async def test_http_server_echo_timeout_failure_and_death(tmp_path: Path, db: Database) -> None:
    with http_mcp_server(tmp_path) as http:
        port = int(http.url.rsplit(":", 1)[1])
        provider = provider_for(tmp_path, db, {"web": {"url": http.url + "/mcp"}})
        toolbox = Toolbox([provider], timeout_s=2.0)
        try:
            frank = await make_user(db, "frank", ["web"])
            tools = await toolbox.tools_for(frank)
            echo = ToolCall("web__echo", {"text": "over HTTP"})
            out = await toolbox.run(echo, tools, frank)
            assert out.ok and out.result == "echo: over HTTP", out.result

            hung = await toolbox.run(ToolCall("web__never_answers", {}), tools, frank)
            assert not hung.ok and "did not answer within 2 s" in hung.result, hung.result
            after = await toolbox.run(echo, tools, frank)  # the session is still usable
            assert after.ok and after.result == "echo: over HTTP", after.result

            failed = await toolbox.run(ToolCall("web__fails", {"reason": "testing"}), tools, frank)
            assert not failed.ok and "failed on purpose: testing" in failed.result, failed.result

            died = await toolbox.run(ToolCall("web__dies", {}), tools, frank)
            assert not died.ok and "the MCP server web stopped" in died.result, died.result
            http.popen.wait(timeout=20)
        except BaseException:
            await provider.close()
            raise
        # The server comes back (same address): the next use starts a new session with it.
        try:
            with http_mcp_server(tmp_path, port=port) as again:
                back = await toolbox.run(ToolCall("web__pid", {}), tools, frank)
                assert back.ok and back.result == str(again.pid), back.result
        finally:
            await provider.close()
