"""Real databases for tests: a temp SQLite file, or a fresh PostgreSQL database dropped afterwards."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

PG_ADMIN_DSN = os.environ.get("HARVIS_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


async def _admin(sql: str) -> None:
    try:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(
            f"PostgreSQL is not reachable at {PG_ADMIN_DSN} ({exc}); the store tests need a real server: "
            "run scripts/ensure-postgres.sh (make setup-test does)"
        ) from exc
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Creates an empty database and yields its SQLAlchemy URL; drops it afterwards."""
    name = f"harvis_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        base = PG_ADMIN_DSN.rsplit("/", 1)[0]
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
