"""The voice library: every voice a request can name.

Built-in voices (the engine's own, and OpenAI's names mapped to it so unchanged OpenAI clients
work) and users' uploaded voices: reference clips stored under names the server chooses, with
the speaker data derived from each clip once (match parameters, embedding).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import unicodedata
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from harvis.config import SpeechSettings
from harvis.errors import BadInput, NotFound
from harvis.speech import matching
from harvis.speech.audio import STT_RATE, Audio, AudioError, decode, wav_bytes
from harvis.speech.service import SpeechService
from harvis.speech.tts import VoiceRef
from harvis.store import voices as voice_store
from harvis.store.models import Voice

log = logging.getLogger(__name__)

# OpenAI's voice names, so unchanged OpenAI clients work: all map to the built-in voice.
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)

# Plain speech of the built-in voice that matching is measured on (not the user's words).
PROBE_TEXT = (
    "I can help you with that. Let me think about it for a moment. Here is what I found about your question."
)


class VoiceError(BadInput):
    """A request the library refuses (name, consent, clip length, quota): a 4xx."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message, code=code, status=status)


class VoiceNotFound(NotFound):
    code = "voice_not_found"

    def __init__(self, voice: str) -> None:
        super().__init__(f"no voice {voice!r}: use a built-in voice name or the id of one of your voices")
        self.voice = voice


def normalise_statement(text: str) -> str:
    return " ".join(text.split()).casefold()


class VoiceLibrary:
    def __init__(self, speech: SpeechService, settings: SpeechSettings, *, data_dir: Path) -> None:
        self.speech = speech
        self.settings = settings
        self.data_dir = data_dir
        self._probe: tuple[np.ndarray, int] | None = None
        self._probe_lock = threading.Lock()

    # ---- names
    def builtin_voices(self) -> list[dict[str, str]]:
        voice = self.speech.builtin_voice
        return [{"id": voice.id, "name": voice.name}]

    def builtin(self, name: str | None) -> VoiceRef | None:
        """The built-in voice for a name (built-in ids, OpenAI names, empty = default), else None."""
        key = (name or "").strip().lower()
        voice = self.speech.builtin_voice
        return voice if key in ("", voice.id.lower(), *OPENAI_VOICES) else None

    async def resolve(self, db: AsyncSession, *, user_id: str, name: str | None) -> VoiceRef:
        """A built-in name or one of this user's voice ids; VoiceNotFound otherwise."""
        ref = self.builtin(name)
        if ref is None:
            ref = await self.ref(db, user_id=user_id, voice_id=str(name))
        if ref is None:
            raise VoiceNotFound(str(name))
        return ref

    # ---- create
    async def create(
        self,
        db: AsyncSession,
        *,
        user_id: str,
        name: str,
        consent: str,
        audio: Audio,
        style: dict[str, float] | None = None,
    ) -> Voice:
        """A new voice from a decoded reference clip (16 kHz mono); `style` holds Chatterbox's
        exaggeration / cfg_weight for this voice."""
        s = self.settings
        name = " ".join(name.split())
        if not name or len(name) > 100 or any(unicodedata.category(c) in ("Cc", "Cs") for c in name):
            raise VoiceError("invalid_name", "a voice needs a name of 1 to 100 printable characters")
        if normalise_statement(consent) != normalise_statement(s.consent_text):
            raise VoiceError("consent_required", f"consent must be the statement: {s.consent_text}")
        if await voice_store.count_voices(db, user_id=user_id) >= s.voice_max_per_user:
            raise _too_many(s.voice_max_per_user)  # early, before the costly work; enforced at insert
        clip = await self.speech.vad_trim(audio)
        if clip.duration_s < s.voice_min_s:
            raise AudioError(
                "audio_too_short",
                f"the clip holds {clip.duration_s:.1f} s of speech; "
                f"a reference needs at least {s.voice_min_s:g} s",
            )
        voice_id = uuid.uuid4().hex
        if not user_id.isalnum():  # ids are uuid hex; anything else must never reach a path
            raise VoiceError("invalid_user", "unexpected user id", 400)
        rel = Path("voices") / user_id / f"{voice_id}.wav"
        path = self.data_dir / rel
        await asyncio.to_thread(_write_atomic, path, wav_bytes(_normalised(clip.samples), STT_RATE))
        try:
            speaker_data = {**await self.speaker_data(clip), **(style or {})}
            voice = await voice_store.create_voice(
                db,
                user_id=user_id,
                name=name,
                mode=self.speech.voice_mode,
                engine=self.speech.engine_name,
                audio_path=rel.as_posix(),
                duration_s=round(clip.duration_s, 2),
                sample_rate=STT_RATE,
                consent_text=s.consent_text,
                speaker_data=speaker_data,
                voice_id=voice_id,
                limit=s.voice_max_per_user,
            )
            if voice is None:
                raise _too_many(s.voice_max_per_user)
            await db.commit()
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return voice

    async def speaker_data(self, speech: Audio) -> dict[str, Any]:
        """Computed once per voice and stored with it: embedding, and match parameters for Piper."""
        encoder = await self.speech.speaker.get()
        data: dict[str, Any] = {}
        if self.speech.engine_name == "piper":
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
            chunks = [c async for c in self.speech.synthesize(PROBE_TEXT)]
            with self._probe_lock:
                self._probe = (np.concatenate([c.pcm for c in chunks]), chunks[0].sample_rate)
        return self._probe

    # ---- read, resolve, delete
    async def list(self, db: AsyncSession, *, user_id: str) -> list[Voice]:
        return await voice_store.list_voices(db, user_id=user_id)

    async def ref(self, db: AsyncSession, *, user_id: str, voice_id: str) -> VoiceRef | None:
        voice = await voice_store.get_voice(db, user_id=user_id, voice_id=voice_id)
        return None if voice is None else await self._ref_of(db, voice)

    # ---- shared voices (offered to clients that cannot sign in: Wyoming)
    async def shared(self, db: AsyncSession) -> Sequence[Voice]:
        return await voice_store.list_shared_voices(db)

    async def resolve_shared(self, db: AsyncSession, name: str | None) -> VoiceRef:
        """A built-in name or the id of a voice an admin shared; never anyone's private voice."""
        ref = self.builtin(name)
        if ref is None and name:
            voice = await voice_store.get_shared_voice(db, voice_id=name)
            ref = None if voice is None else await self._ref_of(db, voice)
        if ref is None:
            raise VoiceNotFound(str(name))
        return ref

    async def set_shared(self, db: AsyncSession, *, user_id: str, voice_id: str, shared: bool) -> Voice:
        voice = await voice_store.get_voice(db, user_id=user_id, voice_id=voice_id)
        if voice is None:
            raise VoiceNotFound(voice_id)
        await voice_store.set_shared(db, voice=voice, shared=shared)
        await db.commit()
        return voice

    async def _ref_of(self, db: AsyncSession, voice: Voice) -> VoiceRef:
        path = self.data_dir / voice.audio_path
        data = voice.speaker_data
        if self.speech.engine_name == "piper" and not (data and "alpha" in data):
            # Made under another engine (a clone): derive the match data now, once, and keep it.
            clip = await asyncio.to_thread(path.read_bytes)
            audio = await asyncio.to_thread(decode, clip, max_seconds=self.settings.voice_max_s + 1)
            data = {**(data or {}), **await self.speaker_data(audio)}
            await voice_store.set_speaker_data(db, voice=voice, speaker_data=data)
            await db.commit()
        return VoiceRef(
            id=voice.id,
            name=voice.name,
            mode=self.speech.voice_mode,
            engine=self.speech.engine_name,
            reference=path,
            speaker_data=data,
            exaggeration=(data or {}).get("exaggeration"),
            cfg_weight=(data or {}).get("cfg_weight"),
        )

    async def delete(self, db: AsyncSession, *, user_id: str, voice_id: str) -> bool:
        voice = await voice_store.delete_voice(db, user_id=user_id, voice_id=voice_id)
        if voice is None:
            return False
        await db.commit()
        (self.data_dir / voice.audio_path).unlink(missing_ok=True)
        return True


def describe(voice: Voice) -> dict[str, Any]:
    """The API shape of a library voice."""
    out: dict[str, Any] = {
        "id": voice.id,
        "name": voice.name,
        "mode": voice.mode,
        "engine": voice.engine,
        "duration_s": voice.duration_s,
        "shared": bool(voice.shared),
        "created_at": _iso(voice.created_at),
    }
    data = voice.speaker_data or {}
    out.update({k: data[k] for k in ("exaggeration", "cfg_weight") if k in data})
    if "similarity_matched" in data:
        out["similarity"] = {
            "plain": round(data["similarity_plain"], 3),
            "matched": round(data["similarity_matched"], 3),
        }
    return out


def _iso(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if ("+" in text[10:] or text.endswith("Z")) else text + "Z"


def _too_many(limit: int) -> VoiceError:
    return VoiceError("too_many_voices", f"you already have {limit} voices; delete one first", 409)


def _normalised(samples: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    return samples * (0.9 / peak) if peak > 0 else samples


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # 0600: a recording of someone's voice is for the server's eyes only.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
