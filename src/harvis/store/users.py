"""Queries: users and app-wide settings."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import AppSetting, User

# \Z, not $: "$" also matches before a trailing newline.
USERNAME_RE = re.compile(r"[a-z0-9_.@-]{1,64}\Z")


def normalise_username(name: str) -> str:
    """One spelling per account: "Alice" and "alice" are the same user."""
    return name.lower()


def username_problem(name: str) -> str | None:
    if USERNAME_RE.match(normalise_username(name)) is None:
        return "usernames use letters, digits and . _ @ - (at most 64)"
    return None


async def count_users(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def create_user(session: AsyncSession, *, username: str, password_hash: str, is_admin: bool) -> User:
    user = User(username=normalise_username(username), password_hash=password_hash, is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def get_user(session: AsyncSession, *, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_name(session: AsyncSession, *, username: str) -> User | None:
    """Case-insensitive, so accounts made before names were normalised are still found."""
    name = normalise_username(username)
    stmt = select(User).where(func.lower(User.username) == name).order_by(User.created_at).limit(1)
    return await session.scalar(stmt)


async def first_admin(session: AsyncSession) -> User | None:
    stmt = select(User).where(User.is_admin).order_by(User.created_at, User.username).limit(1)
    return await session.scalar(stmt)


async def list_users(session: AsyncSession) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.created_at, User.username)))


async def set_password(session: AsyncSession, *, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    await session.flush()


async def get_setting(session: AsyncSession, *, key: str, default: Any = None) -> Any:
    row = await session.get(AppSetting, key)
    return default if row is None else row.value


async def put_setting(session: AsyncSession, *, key: str, value: Any) -> None:
    row = await session.get(AppSetting, key)
    if row is None:
        session.add(AppSetting(key=key, value=value))
    else:
        row.value = value
    await session.flush()
