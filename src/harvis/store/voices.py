"""Queries: a user's voices (the speech part stores the audio; this is the catalogue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import User, Voice, is_id


async def create_voice(
    session: AsyncSession,
    *,
    user_id: str,
    name: str,
    mode: str,
    engine: str,
    audio_path: str,
    duration_s: float,
    sample_rate: int,
    consent_text: str,
    speaker_data: dict[str, Any] | None = None,
    voice_id: str | None = None,
    limit: int | None = None,
) -> Voice | None:
    """Adds the voice; with `limit`, only while the user has fewer than `limit` voices, else
    None (nothing added). The check is atomic: the user's row is locked first (PostgreSQL:
    a racing upload waits, then counts this one), and the count is taken after the insert
    inside the same transaction (SQLite: the insert holds the only write lock until commit)."""
    if limit is not None:
        await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    voice = Voice(
        user_id=user_id,
        name=name,
        mode=mode,
        engine=engine,
        audio_path=audio_path,
        duration_s=duration_s,
        sample_rate=sample_rate,
        consent_text=consent_text,
        speaker_data=speaker_data,
    )
    if voice_id is not None:
        voice.id = voice_id  # the speech part may name the file after the id it chose
    session.add(voice)
    await session.flush()
    if limit is not None and await count_voices(session, user_id=user_id) > limit:
        await session.rollback()
        return None
    return voice


async def count_voices(session: AsyncSession, *, user_id: str) -> int:
    stmt = select(func.count()).select_from(Voice).where(Voice.user_id == user_id)
    return int(await session.scalar(stmt) or 0)


async def list_voices(session: AsyncSession, *, user_id: str) -> list[Voice]:
    stmt = select(Voice).where(Voice.user_id == user_id).order_by(Voice.created_at)
    return list(await session.scalars(stmt))


async def get_voice(session: AsyncSession, *, user_id: str, voice_id: str) -> Voice | None:
    if not is_id(voice_id):
        return None
    return await session.scalar(select(Voice).where(Voice.id == voice_id, Voice.user_id == user_id))


async def list_shared_voices(session: AsyncSession) -> list[Voice]:
    """Every user's voices that an admin has shared, oldest first."""
    return list(await session.scalars(select(Voice).where(Voice.shared).order_by(Voice.created_at)))


async def get_shared_voice(session: AsyncSession, *, voice_id: str) -> Voice | None:
    if not is_id(voice_id):
        return None
    return await session.scalar(select(Voice).where(Voice.id == voice_id, Voice.shared))


async def set_shared(session: AsyncSession, *, voice: Voice, shared: bool) -> None:
    voice.shared = shared
    await session.flush()


async def set_speaker_data(session: AsyncSession, *, voice: Voice, speaker_data: dict[str, Any]) -> None:
    voice.speaker_data = speaker_data
    await session.flush()


async def delete_voice(session: AsyncSession, *, user_id: str, voice_id: str) -> Voice | None:
    """Deletes the row and returns it (so the caller can remove its audio file), or None."""
    voice = await get_voice(session, user_id=user_id, voice_id=voice_id)
    if voice is not None:
        await session.delete(voice)
        await session.flush()
    return voice
