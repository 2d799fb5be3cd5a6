"""Queries: a user's voices (the speech part stores the audio; this is the catalogue)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.store.models import Voice, is_id


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
) -> Voice:
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
    return voice


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
