"""The database: can Harvis connect to it (SQLite file or PostgreSQL from DATABASE_URL)?"""

from __future__ import annotations

import asyncio
from pathlib import Path

from harvis.doctor.context import Context
from harvis.doctor.result import Check
from harvis.store.db import Database, normalise_url

SQLITE_PREFIX = "sqlite+aiosqlite:///"


async def run(ctx: Context) -> list[Check]:

    url = normalise_url(ctx.settings.resolved_database_url)
    if url.startswith(SQLITE_PREFIX):
        path = Path(url[len(SQLITE_PREFIX) :])
        if not await asyncio.to_thread(path.exists):
            # Do not create it here: harvis serve creates and migrates it on start.
            return [
                Check.warn(
                    "database",
                    f"SQLite {path} does not exist yet",
                    "start harvis serve once (it creates and migrates the file), "
                    "or set DATABASE_URL for PostgreSQL",
                )
            ]
    db = Database(url)
    try:
        await asyncio.wait_for(db.ping(), ctx.timeout_s)
    except Exception as exc:  # any driver error means "cannot use it"; say which
        reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
        return [
            Check.fail(
                "database",
                f"{db.safe_url}: {reason}"[:400],
                "check DATABASE_URL (in Kubernetes: the Secret harvis-ai-secrets) and that the "
                "server is up: kubectl get pods -n ai-agents -l app=harvis-ai-postgres",
            )
        ]
    finally:
        await db.close()
    return [Check.ok("database", f"connected: {db.safe_url}")]
