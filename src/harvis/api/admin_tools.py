"""Admin: the MCP servers (their state and tools) and which users' answers may use them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from harvis.api.deps import AdminUser, DbSession, ServicesDep
from harvis.api.routing import api_router
from harvis.errors import BadInput, NotFound
from harvis.store import tool_grants, users
from harvis.tools.mcp import McpProvider, McpServer, tool_name

router = api_router(tags=["admin"])


class McpToolOut(BaseModel):
    name: str  # as the model calls it: "<server>__<tool>"
    description: str


class McpServerOut(BaseModel):
    name: str
    transport: str  # stdio | http
    state: str  # not started | running | failed | stopped
    error: str | None
    tools: list[McpToolOut]
    users: list[str]  # who may use it


class McpOverview(BaseModel):
    servers: list[McpServerOut]


class ToolGrants(BaseModel):
    mcp_servers: list[str] = Field(max_length=100)


class ToolGrantsOut(BaseModel):
    username: str
    mcp_servers: list[str]


def _provider(state: ServicesDep) -> McpProvider | None:
    return state.mcp


def _server_out(server: McpServer, granted_to: list[str]) -> McpServerOut:
    tools = [
        McpToolOut(name=tool_name(server.name, t.name), description=t.description or "") for t in server.tools
    ]
    return McpServerOut(
        name=server.name,
        transport=server.config.transport,
        state=server.state,
        error=server.error,
        tools=tools,
        users=granted_to,
    )


@router.get("/api/admin/mcp", response_model=McpOverview)
async def mcp_overview(admin: AdminUser, session: DbSession, state: ServicesDep) -> McpOverview:
    """Servers not running are started first, so that their tools (or why not) show."""
    provider = _provider(state)
    if provider is None:
        return McpOverview(servers=[])
    await provider.refresh()
    granted = await tool_grants.users_by_server(session)
    return McpOverview(servers=[_server_out(s, granted.get(s.name, [])) for s in provider.servers.values()])


async def _user(session: DbSession, username: str) -> str:
    user = await users.get_user_by_name(session, username=username)
    if user is None:
        raise NotFound(f"no user {username!r}")
    return user.id


@router.get("/api/admin/users/{username}/tools", response_model=ToolGrantsOut)
async def user_tools(username: str, admin: AdminUser, session: DbSession) -> ToolGrantsOut:
    user_id = await _user(session, username)
    return ToolGrantsOut(
        username=username, mcp_servers=await tool_grants.servers_for(session, user_id=user_id)
    )


@router.put("/api/admin/users/{username}/tools", response_model=ToolGrantsOut)
async def put_user_tools(
    username: str, body: ToolGrants, admin: AdminUser, session: DbSession, state: ServicesDep
) -> ToolGrantsOut:
    provider = _provider(state)
    known = set(provider.servers) if provider is not None else set()
    if unknown := [name for name in body.mcp_servers if name not in known]:
        names = ", ".join(sorted(known)) or "none"
        raise BadInput(
            f"no MCP server named {unknown[0]!r} in the MCP config (known: {names})",
            code="unknown_mcp_server",
        )
    user_id = await _user(session, username)
    servers = await tool_grants.set_servers(session, user_id=user_id, servers=body.mcp_servers)
    await session.commit()
    return ToolGrantsOut(username=username, mcp_servers=servers)
