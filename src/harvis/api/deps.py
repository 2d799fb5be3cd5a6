"""FastAPI dependencies shared by every router: the DB session, the current user, app state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from harvis.api.errors import ApiError
from harvis.api.tokens import hash_api_key, is_api_key, read_token
from harvis.store import credentials
from harvis.store.models import User

SESSION_COOKIE = "harvis_session"


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.db.session() as session:
        yield session


def app_state(request: Request) -> State:
    return request.app.state


def credential_from(request: Request) -> str | None:
    """The bearer token or API key, from the Authorization header, else the session cookie."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.cookies.get(SESSION_COOKIE) or None


async def user_for_credential(session: AsyncSession, credential: str, secret: str) -> User | None:
    if is_api_key(credential):
        user = await credentials.user_for_api_key(session, key_hash=hash_api_key(credential))
        if user is not None:
            await session.commit()  # records last_used_at
        return user
    claims = read_token(credential, secret=secret)
    if claims is None:
        return None
    user_id, jti = claims
    return await credentials.user_for_token(session, jti=jti, user_id=user_id)


async def current_user(request: Request, session: Annotated[AsyncSession, Depends(db_session)]) -> User:
    credential = credential_from(request)
    if credential is None:
        raise ApiError(401, "unauthorized", "sign in first (session cookie or Authorization: Bearer)")
    user = await user_for_credential(session, credential, request.app.state.secret)
    if user is None:
        raise ApiError(401, "unauthorized", "the token or API key is invalid, expired or revoked")
    request.state.user_id = user.id
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise ApiError(403, "forbidden", "only an admin may do this")
    return user


DbSession = Annotated[AsyncSession, Depends(db_session)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
AppState = Annotated[State, Depends(app_state)]
