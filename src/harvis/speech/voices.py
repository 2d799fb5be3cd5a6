"""The voice library: users' reference clips, stored under names the server chooses, and
the speaker data derived from each clip once (match parameters, embedding)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harvis import store
from harvis.speech import matching
from harvis.speech.audio import STT_RATE, Audio, AudioError, decode, wav_bytes
from harvis.speech.tts import VoiceRef

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from harvis.speech.service import SpeechService
    from harvis.store.models import Voice

log = logging.getLogger(__name__)

# Plain speech of the built-in voice that matching is measured on (not the user's words).
PROBE_TEXT = ("I can help you with that. Let me think about it for a moment. "
              "Here is what I found about your question.")


class VoiceError(ValueError):
    """A request the library refuses (name, consent, clip length, quota): a 4xx."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def normalise_statement(text: str) -> str:
    return " ".join(text.split()).casefold()


class VoiceLibrary:
    def __init__(self, service: SpeechService) -> None:
        self.service = service
        self.settings = service.settings
        self.root = service.data_dir / "voices"
        self._probe: tuple[np.ndarray, int] | None = None
        self._probe_lock = threading.Lock()

    # ---- create
    async def create(self, db: AsyncSession, *, user_id: str, name: str, consent: str, data: bytes) -> Voice:
        s = self.settings
        name = " ".join(name.split())
        if not name or len(name) > 100:
            raise VoiceError("invalid_name", "a voice needs a name of 1 to 100 characters")
        if normalise_statement(consent) != normalise_statement(s.consent_text):
            raise VoiceError("consent_required", f"consent must be the statement: {s.consent_text}")
        if len(data) > s.voice_max_mb * 1024 * 1024:
            raise VoiceError("upload_too_large", f"a reference clip may be at most {s.voice_max_mb} MB", 413)
        if len(await store.list_voices(db, user_id=user_id)) >= s.voice_max_per_user:
            raise VoiceError("too_many_voices",
                             f"you already have {s.voice_max_per_user} voices; delete one first", 409)
        try:  # a little slack over the limit: a container may round its duration up
            audio = await asyncio.to_thread(decode, data, max_seconds=s.voice_max_s + 0.5)
        except AudioError as exc:
            if exc.code == "audio_too_long":
                message = f"a reference clip may be at most {s.voice_max_s:g} s long"
                raise AudioError(exc.code, message) from None
            raise
        speech = await self.service.vad_trim(audio)
        if speech.duration_s < s.voice_min_s:
            raise AudioError("audio_too_short", f"the clip holds {speech.duration_s:.1f} s of speech; "
                             f"a reference needs at least {s.voice_min_s:g} s")
        voice_id = uuid.uuid4().hex
        if not user_id.isalnum():  # ids are uuid hex; anything else must never reach a path
            raise VoiceError("invalid_user", "unexpected user id", 400)
        rel = Path("voices") / user_id / f"{voice_id}.wav"
        path = self.service.data_dir / rel
        await asyncio.to_thread(_write_atomic, path, wav_bytes(_normalised(speech.samples), STT_RATE))
        try:
            speaker_data = await self.speaker_data(speech)
            voice = await store.create_voice(
                db, user_id=user_id, name=name, mode=self.service.voice_mode, engine=self.service.engine_name,
                audio_path=rel.as_posix(), duration_s=round(speech.duration_s, 2), sample_rate=STT_RATE,
                consent_text=s.consent_text, speaker_data=speaker_data, voice_id=voice_id)
            await db.commit()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return voice

    async def speaker_data(self, speech: Audio) -> dict[str, Any]:
        """Computed once per voice and stored with it: embedding, and match parameters for Piper."""
        encoder = await self.service.speaker.get()
        data: dict[str, Any] = {}
        if self.service.engine_name == "piper":
            probe, rate = await self._probe_audio()
            try:
                params = await asyncio.to_thread(matching.fit, speech.samples, probe, rate, encoder)
            except ValueError as exc:  # e.g. whispered or unvoiced speech: no pitch to match
                raise VoiceError("unusable_reference", f"cannot match a voice to this clip: {exc}") from None
            data.update(params.to_json())
        embedding = await asyncio.to_thread(encoder.embed, speech.samples)
        data["embedding"] = [round(float(x), 5) for x in embedding]
        return data

    async def _probe_audio(self) -> tuple[np.ndarray, int]:
        if self._probe is None:
            ref = self.service.builtin(None)
            chunks = [c async for c in self.service.synthesize(PROBE_TEXT, voice=ref)]
            with self._probe_lock:
                self._probe = (np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate)
        return self._probe

    # ---- read, resolve, delete
    async def list(self, db: AsyncSession, *, user_id: str) -> list[Voice]:
        return await store.list_voices(db, user_id=user_id)

    async def ref(self, db: AsyncSession, *, user_id: str, voice_id: str) -> VoiceRef | None:
        voice = await store.get_voice(db, user_id=user_id, voice_id=voice_id)
        if voice is None:
            return None
        path = self.service.data_dir / voice.audio_path
        data = voice.speaker_data
        if self.service.engine_name == "piper" and not (data and "alpha" in data):
            # Made under another engine (a clone): derive the match data now, once, and keep it.
            clip = await asyncio.to_thread(path.read_bytes)
            audio = await asyncio.to_thread(decode, clip, max_seconds=self.settings.voice_max_s + 1)
            data = {**(data or {}), **await self.speaker_data(audio)}
            await store.set_speaker_data(db, voice=voice, speaker_data=data)
            await db.commit()
        return VoiceRef(id=voice.id, name=voice.name, mode=self.service.voice_mode,
                        engine=self.service.engine_name, reference=path, speaker_data=data)

    async def delete(self, db: AsyncSession, *, user_id: str, voice_id: str) -> bool:
        voice = await store.delete_voice(db, user_id=user_id, voice_id=voice_id)
        if voice is None:
            return False
        await db.commit()
        (self.service.data_dir / voice.audio_path).unlink(missing_ok=True)
        return True


def describe(voice: Voice) -> dict[str, Any]:
    """The API shape of a library voice."""
    out: dict[str, Any] = {"id": voice.id, "name": voice.name, "mode": voice.mode, "engine": voice.engine,
                           "duration_s": voice.duration_s, "created_at": _iso(voice.created_at)}
    data = voice.speaker_data or {}
    if "similarity_matched" in data:
        out["similarity"] = {"plain": round(data["similarity_plain"], 3),
                             "matched": round(data["similarity_matched"], 3)}
    return out


def _iso(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if ("+" in text[10:] or text.endswith("Z")) else text + "Z"


def _normalised(samples: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return samples * (0.9 / peak) if peak > 0 else samples


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
