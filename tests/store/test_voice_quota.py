"""The per-user voice limit holds under concurrency, on SQLite and PostgreSQL: 19 voices and
6 uploads that all passed the early check at once end with exactly 20 voices."""

from __future__ import annotations

import asyncio
import uuid

from harvis.store import users, voices
from harvis.store.db import Database

LIMIT = 20
PARALLEL = 6


async def _add(db: Database, user_id: str, limit: int | None, gate: asyncio.Barrier | None = None) -> bool:
    async with db.session() as s:
        if gate is not None:
            # What an upload does: the early check passes for all of them, then the slow work
            # (trimming, speaker data) runs, then the insert.
            assert await voices.count_voices(s, user_id=user_id) < LIMIT
            await gate.wait()
        voice = await voices.create_voice(
            s,
            user_id=user_id,
            name="v",
            mode="match",
            engine="piper",
            audio_path=f"voices/{user_id}/{uuid.uuid4().hex}.wav",
            duration_s=5.0,
            sample_rate=16_000,
            consent_text="ok",
            limit=limit,
        )
        if voice is None:
            return False
        await s.commit()
        return True


async def test_parallel_uploads_never_pass_the_limit(db: Database) -> None:
    async with db.session() as s:
        user = await users.create_user(s, username="quota", password_hash="x", is_admin=False)
        await s.commit()
    for _ in range(LIMIT - 1):
        assert await _add(db, user.id, LIMIT)
    gate = asyncio.Barrier(PARALLEL)
    results = await asyncio.wait_for(
        asyncio.gather(*(_add(db, user.id, LIMIT, gate) for _ in range(PARALLEL))), timeout=60
    )
    async with db.session() as s:
        assert await voices.count_voices(s, user_id=user.id) == LIMIT
    assert sorted(results) == [False] * (PARALLEL - 1) + [True]
    # Another user's voices do not count against this one.
    async with db.session() as s:
        other = await users.create_user(s, username="other", password_hash="x", is_admin=False)
        await s.commit()
    assert await _add(db, other.id, LIMIT)
