"""The Database: one async engine and sessionmaker built from settings; migrations run on open."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from harvis.config import Settings
from harvis.store.migrate import upgrade_to_head

log = logging.getLogger(__name__)


def normalise_url(url: str) -> str:
    """Accept the spellings users paste (postgres://, postgresql://) and pick the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers work while a stream's answer is written; foreign keys are off by default.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if not self.is_sqlite:
            kwargs.update(pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        url = normalise_url(settings.resolved_database_url)
        if url.startswith("sqlite+aiosqlite:///"):
            Path(url[len("sqlite+aiosqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        return cls(url)

    async def open(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""

        await upgrade_to_head(self.engine)
        log.info("database ready: %s", self.safe_url)

    async def close(self) -> None:
        await self.engine.dispose()

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and health output."""
        return self.engine.url.render_as_string(hide_password=True)
