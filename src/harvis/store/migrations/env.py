"""Alembic environment. Harvis hands in a live connection (harvis.store.migrate); the alembic
command line gets the URL from Harvis's settings instead."""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from harvis.config import Settings
from harvis.store.db import normalise_url
from harvis.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can't ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:

    engine = create_async_engine(normalise_url(Settings().resolved_database_url))
    async with engine.begin() as conn:
        await conn.run_sync(run_with)
    await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    run_with(given)
else:
    if config.config_file_name is not None:
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(run_from_settings())
