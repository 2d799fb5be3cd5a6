"""Migrations bring an empty database to the newest schema, and running them again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from harvis.store.db import Database, normalise_url
from harvis.store.migrate import current_revision
from tests.support.store import fresh_postgres_database

TABLES = {"users", "auth_tokens", "api_keys", "app_settings", "chat_sessions", "messages", "voices"}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _upgrade_twice(url: str) -> None:
    db = Database(url)
    try:
        assert await current_revision(db.engine) is None
        assert not (await _tables(db)) & TABLES
        await db.open()
        assert await current_revision(db.engine) == "0001"
        assert TABLES <= await _tables(db)
        await db.open()  # idempotent: a restart must not fail or change anything
        assert await current_revision(db.engine) == "0001"
    finally:
        await db.close()


async def test_sqlite_upgrades_from_empty(tmp_path: Path) -> None:
    await _upgrade_twice(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")


def test_postgres_upgrades_from_empty() -> None:
    import asyncio

    with fresh_postgres_database() as url:
        asyncio.run(_upgrade_twice(url))


async def test_sqlite_uses_wal(tmp_path: Path) -> None:
    from sqlalchemy import text

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    try:
        await db.open()
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("sqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ],
)
def test_database_urls_are_normalised(given: str, expected: str) -> None:
    assert normalise_url(given) == expected
