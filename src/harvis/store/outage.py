"""Telling "the database is unreachable right now" apart from "this query is wrong"."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa_exc

# What a database outage can raise: SQLAlchemy's wrappers, asyncpg's own errors (a refused or
# half-open connect is not always wrapped), and the OS's connection errors.
DATABASE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    ConnectionError,
)
_DOWN = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
)


def database_down(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the server cannot be reached or went away."""
    # SQLAlchemy wraps driver errors and its asyncpg adapter wraps them again: follow the causes.
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, _DOWN):
            return True
        if isinstance(seen, sa_exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
