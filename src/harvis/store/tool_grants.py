"""Queries: which MCP servers each user's answers may use (granted by an admin)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import ToolGrant, User

# A server's name in the MCP config; it prefixes its tools' names ("<server>__<tool>").
SERVER_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")


async def servers_for(session: AsyncSession, *, user_id: str) -> list[str]:
    stmt = select(ToolGrant.server).where(ToolGrant.user_id == user_id).order_by(ToolGrant.server)
    return list(await session.scalars(stmt))


async def set_servers(session: AsyncSession, *, user_id: str, servers: Iterable[str]) -> list[str]:
    """Make the user's grants exactly `servers`; returns them, sorted."""
    wanted = set(servers)
    have = set(await servers_for(session, user_id=user_id))
    if gone := have - wanted:
        await session.execute(
            delete(ToolGrant).where(ToolGrant.user_id == user_id, ToolGrant.server.in_(gone))
        )
    session.add_all(ToolGrant(user_id=user_id, server=name) for name in sorted(wanted - have))
    await session.flush()
    return sorted(wanted)


async def users_by_server(session: AsyncSession) -> dict[str, list[str]]:
    """Server name -> the usernames it is granted to (for the admin's overview)."""
    stmt = (
        select(ToolGrant.server, User.username)
        .join(User, User.id == ToolGrant.user_id)
        .order_by(ToolGrant.server, User.username)
    )
    out: dict[str, list[str]] = {}
    for server, username in (await session.execute(stmt)).all():
        out.setdefault(server, []).append(username)
    return out
