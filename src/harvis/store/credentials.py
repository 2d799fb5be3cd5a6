"""Queries: session tokens (server-side half of each JWT) and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import ApiKey, AuthToken, User, is_id, utcnow


async def add_token(session: AsyncSession, *, jti: str, user_id: str, expires_at: datetime) -> AuthToken:
    token = AuthToken(jti=jti, user_id=user_id, expires_at=expires_at)
    session.add(token)
    await session.flush()
    return token


async def user_for_token(session: AsyncSession, *, jti: str, user_id: str) -> User | None:
    """The token's user if the token is known, not revoked and not expired."""
    token = await session.get(AuthToken, jti)
    if token is None or token.revoked or token.user_id != user_id or token.expires_at <= utcnow():
        return None
    return await session.get(User, user_id)


async def revoke_token(session: AsyncSession, *, jti: str) -> None:
    await session.execute(update(AuthToken).where(AuthToken.jti == jti).values(revoked=True))


async def revoke_user_tokens(session: AsyncSession, *, user_id: str) -> int:
    """Revokes every session token of the user; returns how many were still live."""
    live = (AuthToken.user_id == user_id, AuthToken.revoked.is_(False), AuthToken.expires_at > utcnow())
    count = int(await session.scalar(select(func.count()).select_from(AuthToken).where(*live)) or 0)
    await session.execute(update(AuthToken).where(AuthToken.user_id == user_id).values(revoked=True))
    return count


async def purge_expired_tokens(session: AsyncSession) -> int:
    result = await session.execute(delete(AuthToken).where(AuthToken.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


async def create_api_key(
    session: AsyncSession,
    *,
    user_id: str,
    name: str,
    key_hash: str,
    prefix: str,
    token_jti: str | None = None,
    parent_id: str | None = None,
) -> ApiKey:
    key = ApiKey(
        user_id=user_id,
        name=name,
        key_hash=key_hash,
        prefix=prefix,
        token_jti=token_jti,
        parent_id=parent_id,
    )
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(session: AsyncSession, *, user_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    return list(await session.scalars(stmt))


async def api_key_for_hash(session: AsyncSession, *, key_hash: str) -> ApiKey | None:
    """The key with this hash (its use recorded in last_used_at), else None."""
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if key is not None:
        key.last_used_at = utcnow()
    return key


async def user_for_api_key(session: AsyncSession, *, key_hash: str) -> User | None:
    key = await api_key_for_hash(session, key_hash=key_hash)
    return None if key is None else await session.get(User, key.user_id)


async def delete_api_key(session: AsyncSession, *, user_id: str, key_id: str) -> bool:
    """Deletes the key and every key made from it, at any depth."""
    if not is_id(key_id):
        return False
    owned = await session.scalar(select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.user_id == user_id))
    if owned is None:
        return False
    doomed, frontier = {key_id}, [key_id]
    while frontier:  # ends: each round adds only keys not seen before, and keys are finite
        stmt = select(ApiKey.id).where(ApiKey.user_id == user_id, ApiKey.parent_id.in_(frontier))
        frontier = [k for k in await session.scalars(stmt) if k not in doomed]
        doomed.update(frontier)
    await session.execute(delete(ApiKey).where(ApiKey.id.in_(doomed)))
    return True


async def delete_keys_of_token(session: AsyncSession, *, jti: str) -> int:
    """Deletes the keys made with this sign-in, and those they made (they inherit its jti)."""
    result = await session.execute(delete(ApiKey).where(ApiKey.token_jti == jti))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_user_api_keys(session: AsyncSession, *, user_id: str) -> int:
    result = await session.execute(delete(ApiKey).where(ApiKey.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)
