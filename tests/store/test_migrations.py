"""Migrations bring an empty database to the newest schema, and running them again changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from harvis.store.db import Database, normalise_url
from harvis.store.migrate import alembic_config, current_revision
from tests.support.store import fresh_postgres_database


def _head() -> str:
    """The newest revision the packaged scripts define (branches add theirs; one head only)."""
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"the migrations have several heads: {heads}"
    return heads[0]


HEAD = _head()
TABLES = {
    "users",
    "auth_tokens",
    "api_keys",
    "app_settings",
    "chat_sessions",
    "messages",
    "voices",
    "tool_grants",
    "timers",
}


async def _tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _upgrade_twice(url: str) -> None:
    db = Database(url)
    try:
        assert await current_revision(db.engine) is None
        assert not (await _tables(db)) & TABLES
        await db.open()
        assert await current_revision(db.engine) == HEAD
        assert TABLES <= await _tables(db)
        await db.open()  # idempotent: a restart must not fail or change anything
        assert await current_revision(db.engine) == HEAD
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


async def test_voices_made_before_sharing_existed_stay_private(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        async with db.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0001"))
            await conn.execute(
                text(
                    "INSERT INTO users (id, username, password_hash, is_admin, created_at) "
                    "VALUES ('u1', 'ann', 'x', 1, '2026-01-01')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO voices (id, user_id, name, mode, engine, audio_path, duration_s, "
                    "sample_rate, consent_text, created_at) VALUES "
                    "('v1', 'u1', 'Ann', 'match', 'piper', 'voices/u1/v1.wav', 8.0, 16000, 'ok', "
                    "'2026-01-01')"
                )
            )
        await db.open()  # migrates to the newest revision
        assert await current_revision(db.engine) == HEAD
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT shared FROM voices WHERE id = 'v1'"))).scalar() in (
                0,
                False,
            )
    finally:
        await db.close()
