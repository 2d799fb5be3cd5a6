"""Fixtures shared by every test directory (a directory's own conftest may override them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harvis.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A real, migrated SQLite store in a temp file (tests/store runs on PostgreSQL too)."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'harvis.db'}")
    await database.open()
    try:
        yield database
    finally:
        await database.close()
