"""Voice cloning end to end on the real chatterbox-tts: a real `harvis serve` (Chatterbox on the CPU
with the random-weights checkpoint, Whisper tiny.en, the embedded LLM), a voice uploaded through
the API, used in /v1/audio/speech and in a voice turn, its conditionals prepared once (the TTS
model's `voices_prepared` counter); bad reference clips get a clear 4xx."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.support.backend import login, signup, start_backend
from tests.support.processes import Proc, free_port
from tests.support.voice_e2e import spoken_wav, sse_events

from harvis.speech.audio import decode, wav_bytes

CONSENT = "I am the person in this recording, or I have their permission to use their voice here."
REFERENCE = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. "
    "How vexingly quick daft zebras jump."
)


@pytest.fixture(scope="module")
def server(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("chatterbox-backend")
    env = {
        "HARVIS_SPEECH__TTS_ENGINE": "chatterbox",
        "HARVIS_SPEECH__CHATTERBOX_DIR": str(checkpoint),
        "HARVIS_SPEECH__DEVICE": "cpu",
        "HARVIS_AUTH__ALLOW_SIGNUP": "true",
        "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
        "HARVIS_PIPELINE__MAX_ANSWER_TOKENS": "8",  # one clause: each costs minutes of CPU here
        "HARVIS_LLM__FIRST_BYTE_TIMEOUT_S": "600",
    }
    proc: Proc = start_backend(data_dir, env=env, timeout=300)
    try:
        signup(proc.url, "alice")
        client = login(proc.url, "alice", timeout=900)
        yield {"proc": proc, "alice": client, "dir": tmp_path_factory.mktemp("clips")}
        client.close()
    finally:
        proc.stop()


def checkpoint_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("chatterbox-tts")


def tts_status(client: httpx.Client) -> dict[str, Any]:
    models = client.get("/api/models/speech").json()
    return next(m for m in models if m["kind"] == "tts")


def upload(client: httpx.Client, data: bytes, **form: str) -> httpx.Response:
    files = {"audio": ("reference.wav", data, "audio/wav")}
    return client.post("/api/voices", files=files, data={"name": "Ann", "consent": CONSENT, **form})


@pytest.fixture(scope="module")
def voice_id(server: dict[str, Any]) -> str:
    clip = spoken_wav(REFERENCE, server["dir"] / "ann.wav", speed=130)
    r = upload(server["alice"], clip, exaggeration="0.9")
    assert r.status_code == 201, r.text
    voice = r.json()
    assert voice["mode"] == "clone" and voice["engine"] == "chatterbox" and voice["exaggeration"] == 0.9
    return str(voice["id"])


def test_an_uploaded_voice_speaks_through_the_openai_speech_api(
    server: dict[str, Any], voice_id: str
) -> None:
    alice: httpx.Client = server["alice"]
    text = "Hello from a cloned voice. This is the second sentence."
    body = {"input": text, "voice": voice_id, "response_format": "wav", "exaggeration": 1.3}  # per request
    r = alice.post("/v1/audio/speech", json=body)
    assert r.status_code == 200, r.text
    with wave.open(io.BytesIO(r.content)) as w:
        assert w.getframerate() == 24_000 and w.getnchannels() == 1  # Chatterbox's own rate, not resampled
    audio = decode(r.content, max_seconds=60)
    assert audio.duration_s > 0.8 and np.isfinite(audio.samples).all()  # two clauses of ~1 s each
    tts = tts_status(alice)
    assert tts["name"] == "chatterbox" and tts["state"] == "ready" and tts["load_count"] == 1
    assert tts["device"] == "cpu" and tts["provider"] == "torch-cpu" and tts["memory_mb"] is not None
    assert tts["path"].endswith(f"chatterbox-{checkpoint_version()}-random-25")
    assert tts["voices_prepared"] == 1  # two clauses, one preparation


def test_the_cloned_voice_answers_a_voice_turn(server: dict[str, Any], voice_id: str) -> None:
    alice: httpx.Client = server["alice"]
    question = spoken_wav("What color is the sky?", server["dir"] / "sky.wav")
    files = {"audio": ("q.wav", question, "audio/wav")}
    with alice.stream("POST", "/api/voice/turn", files=files, data={"voice": voice_id}) as r:
        assert r.status_code == 200, r.read()
        events = list(sse_events(r))
    names = [n for n, _ in events]
    assert names[:2] == ["session", "transcript"] and names[-1] == "done", names
    assert "sky" in events[1][1]["text"].lower()
    audio = [d for n, d in events if n == "audio"]
    assert audio and events[-1][1]["status"] == "complete", events[-1]
    assert tts_status(alice)["voices_prepared"] == 1  # the voice turn reused the voice's conditionals


def test_bad_reference_clips_get_a_clear_4xx(server: dict[str, Any], voice_id: str) -> None:
    alice: httpx.Client = server["alice"]
    rate = 16_000
    rng = np.random.default_rng(3)
    short = spoken_wav("Too short.", server["dir"] / "short.wav")
    cases = {
        "silent": (wav_bytes(np.zeros(8 * rate, np.float32), rate), 400, "audio_too_short"),
        "noise": (
            wav_bytes((0.3 * rng.standard_normal(8 * rate)).astype(np.float32), rate),
            400,
            "audio_too_short",
        ),
        "too short": (short, 400, "audio_too_short"),
        "not audio": (b"this is a text file, not audio\n" * 200, 400, "invalid_audio"),
    }
    for case, (data, status, code) in cases.items():
        r = upload(alice, data)
        assert r.status_code == status, (case, r.status_code, r.text)
        error = r.json()["error"]
        assert error["code"] == code and error["message"], (case, error)
    bad_style = upload(alice, short, exaggeration="7")
    assert bad_style.status_code == 422 and "error" in bad_style.json()
    r = alice.post("/v1/audio/speech", json={"input": "Hi.", "voice": voice_id, "cfg_weight": 3})
    assert r.status_code == 422
    assert alice.get("/health/live").status_code == 200 and server["proc"].popen.poll() is None


def test_missing_weights_are_a_503_naming_the_fix(tmp_path: Path, checkpoint: Path) -> None:
    data_dir = tmp_path / "backend"
    env = {
        "HARVIS_SPEECH__TTS_ENGINE": "chatterbox",
        "HARVIS_SPEECH__CHATTERBOX_DIR": str(tmp_path / "empty"),
        "HARVIS_SPEECH__DEVICE": "cpu",
        "OLLAMA_URL": f"http://127.0.0.1:{free_port()}",
    }
    proc = start_backend(data_dir, env=env, timeout=300)
    try:
        signup(proc.url, "alice")
        # Importing torch and chatterbox for the first load takes a while on 2 shared cores.
        client = login(proc.url, "alice", timeout=900)
        try:
            r = client.post("/v1/audio/speech", json={"input": "Hello.", "voice": "alloy"})
        finally:
            client.close()
        assert r.status_code == 503, r.text
        message = r.json()["error"]["message"]
        assert "t3_cfg.safetensors" in message and "harvis models fetch chatterbox" in message
    finally:
        proc.stop()
