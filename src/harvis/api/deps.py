"""FastAPI dependencies shared by every router: the services, the DB session, the current user."""

from __future__ import annotations

from collections.abc import AsyncIterator
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
from harvis.store.models import User

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
        raise Unauthorized("sign in first (session cookie or Authorization: Bearer)")
    user = await user_for_credential(session, credential, services(request).secret)
    if user is None:
        raise Unauthorized("the token or API key is invalid, expired or revoked")
    request.state.user_id = user.id
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise Forbidden("only an admin may do this")
    return user


DbSession = Annotated[AsyncSession, Depends(db_session)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
ServicesDep = Annotated[Services, Depends(services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RouterDep = Annotated[Router, Depends(get_router)]
SpeechDep = Annotated[SpeechService, Depends(get_speech)]
VoicesDep = Annotated[VoiceLibrary, Depends(get_voices)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
