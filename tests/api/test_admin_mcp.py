"""The admin API of MCP servers and per-user grants, on the real app with real MCP servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from harvis.api.app import create_app
from harvis.config import ToolSettings
from harvis.llm.router import Router
from harvis.store import users
from harvis.tools.base import ToolContext
from tests.api.conftest import bearer, make_settings, signup_login
from tests.support.mcp_servers import http_mcp_server, time_server_entry, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
async def mcp_app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    with http_mcp_server(tmp_path) as http:
        config = write_config(
            tmp_path / "mcp.json", {"time": time_server_entry(), "web": {"url": http.url + "/mcp"}}
        )
        settings = make_settings(tmp_path, allow_signup=True).model_copy(
            update={"tools": ToolSettings(mcp_config=str(config))}
        )
        router = Router.from_settings(settings)
        app = create_app(settings, router=router, start_node=False)
        await router.start()
        try:
            async with app.router.lifespan_context(app):
                yield app
        finally:
            await router.close()


@pytest.fixture
async def client(mcp_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=mcp_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def mcp_tools_of(app: FastAPI, username: str) -> set[str]:
    svc = app.state.services
    async with svc.db.session() as s:
        user = await users.get_user_by_name(s, username=username)
    assert user is not None
    found = await svc.toolbox.tools_for(ToolContext(user_id=user.id))
    return {name for name in found if "__" in name}  # the MCP servers' (built-ins have no prefix)


async def test_admin_sees_servers_and_grants_them_per_user(
    client: httpx.AsyncClient, mcp_app: FastAPI
) -> None:
    admin = await signup_login(client, "root")
    await signup_login(client, "alice")
    await signup_login(client, "bob")

    r = await client.get("/api/admin/mcp", headers=bearer(admin))
    assert r.status_code == 200, r.text
    servers = {s["name"]: s for s in r.json()["servers"]}
    assert set(servers) == {"time", "web"}
    assert servers["time"]["transport"] == "stdio" and servers["web"]["transport"] == "http"
    assert servers["time"]["state"] == "running" and servers["web"]["state"] == "running"
    assert "time__get_current_time" in {t["name"] for t in servers["time"]["tools"]}
    assert "web__echo" in {t["name"] for t in servers["web"]["tools"]}
    assert servers["web"]["users"] == []

    r = await client.put("/api/admin/users/alice/tools", json={"mcp_servers": ["web"]}, headers=bearer(admin))
    assert r.status_code == 200, r.text
    assert r.json() == {"username": "alice", "mcp_servers": ["web"]}
    assert (await client.get("/api/admin/users/alice/tools", headers=bearer(admin))).json()[
        "mcp_servers"
    ] == ["web"]
    servers = {
        s["name"]: s for s in (await client.get("/api/admin/mcp", headers=bearer(admin))).json()["servers"]
    }
    assert servers["web"]["users"] == ["alice"] and servers["time"]["users"] == []

    alice_tools = await mcp_tools_of(mcp_app, "alice")
    assert "web__echo" in alice_tools and not any(n.startswith("time__") for n in alice_tools)
    assert await mcp_tools_of(mcp_app, "bob") == set(), "a user without a grant gets no MCP tools"

    r = await client.put(
        "/api/admin/users/alice/tools", json={"mcp_servers": ["time"]}, headers=bearer(admin)
    )
    assert r.json()["mcp_servers"] == ["time"]
    assert not any(n.startswith("web__") for n in await mcp_tools_of(mcp_app, "alice")), "revoked at once"


async def test_unknown_server_or_user_is_refused_and_nothing_changes(client: httpx.AsyncClient) -> None:
    admin = await signup_login(client, "root")
    await signup_login(client, "alice")
    await client.put("/api/admin/users/alice/tools", json={"mcp_servers": ["web"]}, headers=bearer(admin))

    r = await client.put(
        "/api/admin/users/alice/tools", json={"mcp_servers": ["web", "nosuch"]}, headers=bearer(admin)
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "unknown_mcp_server" and "'nosuch'" in r.json()["error"]["message"]
    assert (await client.get("/api/admin/users/alice/tools", headers=bearer(admin))).json()[
        "mcp_servers"
    ] == ["web"]

    r = await client.put(
        "/api/admin/users/nobody/tools", json={"mcp_servers": ["web"]}, headers=bearer(admin)
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.put("/api/admin/users/alice/tools", json={"mcp_servers": "web"}, headers=bearer(admin))
    assert r.status_code == 422 and "error" in r.json()


async def test_only_a_signed_in_admin_may_use_the_mcp_admin_routes(client: httpx.AsyncClient) -> None:
    admin = await signup_login(client, "root")
    alice = await signup_login(client, "alice")
    key = (await client.post("/api/keys", json={"name": "script"}, headers=bearer(admin))).json()["key"]
    body = {"mcp_servers": ["web"]}

    for who, code in ((alice, "forbidden"), (key, "key_not_allowed")):
        r = await client.get("/api/admin/mcp", headers=bearer(who))
        assert r.status_code == 403 and r.json()["error"]["code"] == code, r.text
        r = await client.put("/api/admin/users/alice/tools", json=body, headers=bearer(who))
        assert r.status_code == 403 and r.json()["error"]["code"] == code, r.text
        r = await client.get("/api/admin/users/alice/tools", headers=bearer(who))
        assert r.status_code == 403, r.text
    assert (await client.get("/api/admin/mcp")).status_code == 401
    r = await client.get("/api/admin/users/alice/tools", headers=bearer(admin))
    assert r.json()["mcp_servers"] == [], "the refused calls changed nothing"
