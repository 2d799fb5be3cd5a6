"""`harvis users tools NAME --enable/--disable SERVER`, as an admin runs it, on a real data dir."""

from __future__ import annotations

from pathlib import Path

from tests.store.test_users_cli import harvis_users


def test_enable_and_disable_mcp_servers_from_the_console(tmp_path: Path) -> None:
    assert (
        harvis_users(tmp_path, "create", "root", "--password-stdin", stdin="first-password-123\n").returncode
        == 0
    )
    assert (
        harvis_users(tmp_path, "create", "bob", "--password-stdin", stdin="first-password-123\n").returncode
        == 0
    )

    shown = harvis_users(tmp_path, "tools", "bob")
    assert shown.returncode == 0 and shown.stdout.strip() == "bob: MCP servers: none", shown.stderr
    on = harvis_users(tmp_path, "tools", "bob", "--enable", "time", "--enable", "web")
    assert on.returncode == 0 and on.stdout.strip() == "bob: MCP servers: time, web", on.stderr
    off = harvis_users(tmp_path, "tools", "Bob", "--disable", "web")
    assert off.returncode == 0 and off.stdout.strip() == "bob: MCP servers: time", off.stderr
    assert harvis_users(tmp_path, "tools", "root").stdout.strip() == "root: MCP servers: none"

    bad = harvis_users(tmp_path, "tools", "bob", "--enable", "no spaces")
    assert bad.returncode == 1 and "'no spaces' is not an MCP server name" in bad.stderr
    missing = harvis_users(tmp_path, "tools", "nobody", "--enable", "time")
    assert missing.returncode == 1 and "no user 'nobody'" in missing.stderr
    assert harvis_users(tmp_path, "tools", "bob").stdout.strip() == "bob: MCP servers: time", "unchanged"
