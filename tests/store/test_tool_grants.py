"""Grants of MCP servers to users, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import delete

from harvis.store import tool_grants, users
from harvis.store.db import Database
from harvis.store.models import User


async def test_grants_are_set_listed_and_go_with_the_user(db: Database) -> None:
    async with db.session() as s:
        alice = await users.create_user(s, username="alice", password_hash="x", is_admin=False)
        bob = await users.create_user(s, username="bob", password_hash="x", is_admin=False)
        assert await tool_grants.set_servers(s, user_id=alice.id, servers=["web", "time", "web"]) == [
            "time",
            "web",
        ]
        await tool_grants.set_servers(s, user_id=bob.id, servers=["time"])
        await s.commit()
    async with db.session() as s:
        assert await tool_grants.servers_for(s, user_id=alice.id) == ["time", "web"]
        assert await tool_grants.users_by_server(s) == {"time": ["alice", "bob"], "web": ["alice"]}
        assert await tool_grants.set_servers(s, user_id=alice.id, servers=["notes"]) == ["notes"]
        await s.commit()
    async with db.session() as s:
        assert await tool_grants.servers_for(s, user_id=alice.id) == ["notes"]
        assert await tool_grants.servers_for(s, user_id=bob.id) == ["time"], "another user's grants stay"
        await s.execute(delete(User).where(User.id == bob.id))
        await s.commit()
    async with db.session() as s:
        assert await tool_grants.users_by_server(s) == {"notes": ["alice"]}, "a deleted user's grants go"
