"""FastAPI dependencies shared by every router: the services, the DB session, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from harvis.api.services import Services
from harvis.api.tokens import hash_api_key, is_api_key, read_token
from harvis.config import Settings
from harvis.errors import Forbidden, ServiceUnavailable, Unauthorized
from harvis.llm.router import Router
from harvis.pipeline.pipeline import Pipeline
from harvis.speech.service import SpeechService
from harvis.speech.voices import VoiceLibrary
from harvis.store import credentials
from harvis.store.models import ApiKey, User

SESSION_COOKIE = "harvis_session"
T = TypeVar("T")


def services(conn: HTTPConnection) -> Services:
    """For HTTP requests and WebSockets alike."""
    svc: Services = conn.app.state.services
    return svc


def _started(value: T | None, what: str) -> T:
    if value is None:
        raise ServiceUnavailable(f"{what} is still starting; try again shortly", code="starting")
    return value


def get_settings(request: Request) -> Settings:
    return services(request).settings


def get_router(request: Request) -> Router:
    return _started(services(request).router, "the language model router")


def get_speech(request: Request) -> SpeechService:
    return _started(services(request).speech, "speech")


def get_voices(request: Request) -> VoiceLibrary:
    return _started(services(request).voices, "the voice library")


def get_pipeline(request: Request) -> Pipeline:
    return _started(services(request).pipeline, "the voice pipeline")


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with services(request).db.session() as session:
        yield session


def credential_from(conn: HTTPConnection) -> str | None:
    """The bearer token or API key, from the Authorization header, else the session cookie."""
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return conn.cookies.get(SESSION_COOKIE) or None


@dataclass(frozen=True)
class Principal:
    """Who a request acts for, and with what: a sign-in (api_key None) or an API key."""

    user: User
    api_key: ApiKey | None
    jti: str | None  # the sign-in's token id; for a key, the sign-in it descends from


async def authenticate(session: AsyncSession, credential: str, secret: str) -> Principal | None:
    if is_api_key(credential):
        key = await credentials.api_key_for_hash(session, key_hash=hash_api_key(credential))
        user = None if key is None else await session.get(User, key.user_id)
        if key is None or user is None:
            return None
        await session.commit()  # records last_used_at
        return Principal(user, key, key.token_jti)
    claims = read_token(credential, secret=secret)
    if claims is None:
        return None
    user_id, jti = claims
    user = await credentials.user_for_token(session, jti=jti, user_id=user_id)
    return None if user is None else Principal(user, None, jti)


async def user_for_credential(session: AsyncSession, credential: str, secret: str) -> User | None:
    principal = await authenticate(session, credential, secret)
    return None if principal is None else principal.user


async def current_principal(
    request: Request, session: Annotated[AsyncSession, Depends(db_session)]
) -> Principal:
    credential = credential_from(request)
    if credential is None:
        raise Unauthorized("sign in first (session cookie or Authorization: Bearer)")
    principal = await authenticate(session, credential, services(request).secret)
    if principal is None:
        raise Unauthorized("the token or API key is invalid, expired or revoked")
    request.state.user_id = principal.user.id
    return principal


async def current_user(principal: Annotated[Principal, Depends(current_principal)]) -> User:
    return principal.user


async def admin_user(principal: Annotated[Principal, Depends(current_principal)]) -> User:
    """An admin, signed in with a password: API keys never carry admin rights (SECURITY.md)."""
    if not principal.user.is_admin:
        raise Forbidden("only an admin may do this")
    if principal.api_key is not None:
        raise Forbidden("API keys cannot use admin routes; sign in with a password", code="key_not_allowed")
    return principal.user


DbSession = Annotated[AsyncSession, Depends(db_session)]
CurrentUser = Annotated[User, Depends(current_user)]
CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
AdminUser = Annotated[User, Depends(admin_user)]
ServicesDep = Annotated[Services, Depends(services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RouterDep = Annotated[Router, Depends(get_router)]
SpeechDep = Annotated[SpeechService, Depends(get_speech)]
VoicesDep = Annotated[VoiceLibrary, Depends(get_voices)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
