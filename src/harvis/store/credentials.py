"""Queries: session tokens (server-side half of each JWT) and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
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


async def revoke_user_tokens(session: AsyncSession, *, user_id: str) -> None:
    await session.execute(update(AuthToken).where(AuthToken.user_id == user_id).values(revoked=True))


async def purge_expired_tokens(session: AsyncSession) -> int:
    result = await session.execute(delete(AuthToken).where(AuthToken.expires_at <= utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


async def create_api_key(
    session: AsyncSession, *, user_id: str, name: str, key_hash: str, prefix: str
) -> ApiKey:
    key = ApiKey(user_id=user_id, name=name, key_hash=key_hash, prefix=prefix)
    session.add(key)
    await session.flush()
    return key


async def list_api_keys(session: AsyncSession, *, user_id: str) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    return list(await session.scalars(stmt))


async def user_for_api_key(session: AsyncSession, *, key_hash: str) -> User | None:
    key = await session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
    if key is None:
        return None
    key.last_used_at = utcnow()
    return await session.get(User, key.user_id)


async def delete_api_key(session: AsyncSession, *, user_id: str, key_id: str) -> bool:
    if not is_id(key_id):
        return False
    result = await session.execute(delete(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id))
    return bool(getattr(result, "rowcount", 0))
