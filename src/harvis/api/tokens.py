"""Credentials: signed session tokens (JWT, HS256, with a server-side jti) and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

API_KEY_PREFIX = "hv-"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: datetime


def issue_token(*, user_id: str, secret: str, ttl_s: int) -> IssuedToken:
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl_s)
    jti = uuid.uuid4().hex
    claims = {"sub": user_id, "jti": jti, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return IssuedToken(jwt.encode(claims, secret, algorithm=_ALGORITHM), jti, expires)


def read_token(token: str, *, secret: str) -> tuple[str, str] | None:
    """(user_id, jti) of a valid, unexpired token signed with `secret`, else None."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "jti", "exp"]}
        )
    except jwt.PyJWTError:
        return None
    sub, jti = claims.get("sub"), claims.get("jti")
    if not isinstance(sub, str) or not isinstance(jti, str):
        return None
    return sub, jti


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are long random strings, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


def is_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
