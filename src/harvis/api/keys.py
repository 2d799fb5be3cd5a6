"""API keys for programs: shown once at creation, stored only as a hash."""

from __future__ import annotations

from datetime import datetime

from fastapi import Response
from pydantic import BaseModel, Field

from harvis.api.deps import CurrentPrincipal, CurrentUser, DbSession
from harvis.api.fields import CleanStr
from harvis.api.routing import api_router
from harvis.api.tokens import hash_api_key, new_api_key
from harvis.errors import NotFound
from harvis.store import credentials

router = api_router(tags=["keys"])


class KeyIn(BaseModel):
    name: CleanStr = Field(default="key", min_length=1, max_length=100)


class KeyCreated(BaseModel):
    id: str
    name: str
    key: str
    prefix: str
    created_at: datetime


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None


@router.post("/api/keys", status_code=201, response_model=KeyCreated)
async def create_key(body: KeyIn, who: CurrentPrincipal, session: DbSession) -> KeyCreated:
    """A key lives until it is deleted, its parent key is deleted, or the sign-in it descends
    from is logged out (or the account is signed out everywhere); see SECURITY.md."""
    key = new_api_key()
    row = await credentials.create_api_key(
        session,
        user_id=who.user.id,
        name=body.name,
        key_hash=hash_api_key(key),
        prefix=key[:10],
        token_jti=who.jti,
        parent_id=who.api_key.id if who.api_key else None,
    )
    await session.commit()
    return KeyCreated(id=row.id, name=row.name, key=key, prefix=row.prefix, created_at=row.created_at)


@router.get("/api/keys", response_model=list[KeyOut])
async def list_keys(user: CurrentUser, session: DbSession) -> list[KeyOut]:
    rows = await credentials.list_api_keys(session, user_id=user.id)
    return [
        KeyOut(id=r.id, name=r.name, prefix=r.prefix, created_at=r.created_at, last_used_at=r.last_used_at)
        for r in rows
    ]


@router.delete("/api/keys/{key_id}", status_code=204)
async def delete_key(key_id: str, user: CurrentUser, session: DbSession) -> Response:
    """Deletes the key and every key made with it."""
    if not await credentials.delete_api_key(session, user_id=user.id, key_id=key_id):
        raise NotFound("no such API key")
    await session.commit()
    return Response(status_code=204)
