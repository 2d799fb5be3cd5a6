"""Accounts: sign-up (first account is admin), login/logout, who am I, admin settings."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from harvis.api.deps import SESSION_COOKIE, AdminUser, CurrentPrincipal, CurrentUser, DbSession, ServicesDep
from harvis.api.fields import CleanStr
from harvis.api.routing import api_router
from harvis.api.tokens import issue_token
from harvis.errors import Conflict, Forbidden, Invalid, Unauthorized
from harvis.store import credentials, users
from harvis.store.models import User
from harvis.store.passwords import hash_password, password_problem, verify_password

router = api_router(tags=["auth"])

ALLOW_SIGNUP = "allow_signup"


class Credentials(BaseModel):
    username: CleanStr = Field(min_length=1, max_length=64)
    password: CleanStr = Field(min_length=1, max_length=256)


class UserOut(BaseModel):
    id: str
    username: str
    is_admin: bool


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    user: UserOut


class SignupConfig(BaseModel):
    signup_open: bool
    first_user: bool = False  # no account yet: the one signing up becomes admin


class AdminSettings(BaseModel):
    allow_signup: bool | None = None


class AdminSettingsOut(BaseModel):
    allow_signup: bool


def user_out(user: User) -> UserOut:
    return UserOut(id=user.id, username=user.username, is_admin=user.is_admin)


async def signup_allowed(session: DbSession, state: ServicesDep) -> bool:
    default = bool(state.settings.auth.allow_signup)
    return bool(await users.get_setting(session, key=ALLOW_SIGNUP, default=default))


@router.get("/api/auth/config", response_model=SignupConfig)
async def auth_config(session: DbSession, state: ServicesDep) -> SignupConfig:
    first = await users.count_users(session) == 0
    open_ = first or await signup_allowed(session, state)
    return SignupConfig(signup_open=open_, first_user=first)


@router.post("/api/auth/signup", status_code=201, response_model=UserOut)
async def signup(body: Credentials, session: DbSession, state: ServicesDep) -> UserOut:
    if (bad_name := users.username_problem(body.username)) is not None:
        raise Invalid(bad_name, code="invalid_username")
    if (problem := password_problem(body.password)) is not None:
        raise Invalid(problem, code="weak_password")
    if await users.count_users(session) > 0 and not await signup_allowed(session, state):
        raise Forbidden("sign-up is closed; ask an admin for an account", code="signup_disabled")
    password_hash = await state.login_guard.hash(lambda: hash_password(body.password))
    # Count and insert under one lock: two sign-ups racing on a fresh install must not both
    # become the first (admin) account.
    async with state.signup_lock:
        first = await users.count_users(session) == 0
        if not first and not await signup_allowed(session, state):
            raise Forbidden("sign-up is closed; ask an admin for an account", code="signup_disabled")
        if await users.get_user_by_name(session, username=body.username) is not None:
            raise Conflict("that username is taken", code="username_taken")
        try:
            user = await users.create_user(
                session, username=body.username, password_hash=password_hash, is_admin=first
            )
            await session.commit()
        except IntegrityError:
            await session.rollback()
            raise Conflict("that username is taken", code="username_taken") from None
    return user_out(user)


@router.post("/api/auth/login", response_model=LoginOut)
async def login(
    body: Credentials, request: Request, response: Response, session: DbSession, state: ServicesDep
) -> LoginOut:
    client = request.client.host if request.client else "unknown"
    account = users.normalise_username(body.username)
    guard = state.login_guard
    guard.check(account, client)
    user = await users.get_user_by_name(session, username=body.username)
    stored = user.password_hash if user else None
    ok = await guard.hash(lambda: verify_password(stored, body.password))
    if user is None or not ok:
        guard.failed(account, client)
        raise Unauthorized("wrong username or password", code="invalid_credentials")
    guard.succeeded(account, client)
    ttl = state.settings.auth.token_ttl_s
    issued = issue_token(user_id=user.id, secret=state.secret, ttl_s=ttl)
    await credentials.add_token(session, jti=issued.jti, user_id=user.id, expires_at=issued.expires_at)
    await session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=ttl,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )
    return LoginOut(access_token=issued.token, user=user_out(user))


@router.post("/api/auth/logout", status_code=204)
async def logout(who: CurrentPrincipal, session: DbSession) -> Response:
    """Ends this sign-in and the API keys made with it. With an API key it ends nothing (a key
    is ended by deleting it)."""
    if who.api_key is None and who.jti is not None:
        await credentials.revoke_token(session, jti=who.jti)
        await credentials.delete_keys_of_token(session, jti=who.jti)
        await session.commit()
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@router.get("/api/auth/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return user_out(user)


@router.get("/api/admin/settings", response_model=AdminSettingsOut)
async def get_admin_settings(admin: AdminUser, session: DbSession, state: ServicesDep) -> AdminSettingsOut:
    return AdminSettingsOut(allow_signup=await signup_allowed(session, state))


@router.patch("/api/admin/settings", response_model=AdminSettingsOut)
async def patch_admin_settings(
    body: AdminSettings, admin: AdminUser, session: DbSession, state: ServicesDep
) -> AdminSettingsOut:
    changes: dict[str, Any] = body.model_dump(exclude_none=True)
    if ALLOW_SIGNUP in changes:
        await users.put_setting(session, key=ALLOW_SIGNUP, value=changes[ALLOW_SIGNUP])
        await session.commit()
    return AdminSettingsOut(allow_signup=await signup_allowed(session, state))
