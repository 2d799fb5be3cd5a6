"""Start-up and periodic chores on the store: answers orphaned by a crash, expired tokens, old timers."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from harvis.store import chats, credentials, timers
from harvis.store.db import Database
from harvis.store.models import utcnow
from harvis.store.outage import database_down

log = logging.getLogger(__name__)

# A live stream saves its progress every pipeline.progress_every_s (≤ 30 s); one silent this long
# belongs to a process that is gone.
STALE_AFTER_S = 60.0
SWEEP_EVERY_S = 60.0
ORPHAN_ERROR = "the server stopped while this answer was being written"
KEEP_DONE_TIMERS = timedelta(days=30)  # fired or cancelled timers kept this long


async def sweep(db: Database, *, at_start: bool) -> None:
    # SQLite is one process's file: at start-up every "streaming" row is an orphan. A shared
    # PostgreSQL may have other replicas mid-answer, so there only silent rows count.
    older_than = None if at_start and db.is_sqlite else utcnow() - timedelta(seconds=STALE_AFTER_S)
    async with db.session() as session:
        orphans = await chats.fail_stale_streams(session, older_than=older_than, error=ORPHAN_ERROR)
        expired = await credentials.purge_expired_tokens(session)
        await timers.purge_done(session, before=utcnow() - KEEP_DONE_TIMERS)
        await session.commit()
    if orphans:
        log.warning("marked %d answer(s) left streaming by a stopped server as errors", orphans)
    if expired:
        log.info("removed %d expired session token(s)", expired)


async def sweep_forever(db: Database) -> None:
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            await sweep(db, at_start=False)
        except Exception as exc:  # a database blip must not end the sweeper
            if not database_down(exc):
                log.exception("housekeeping sweep failed")
            else:
                log.warning("housekeeping sweep skipped: database unreachable (%s)", type(exc).__name__)
