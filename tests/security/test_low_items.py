"""Small holes, each closed at its mechanism: usernames have one spelling, NUL never reaches
speech or a voice name, and the data dir is owner-only."""

from __future__ import annotations

import io
import stat
import wave
from pathlib import Path

import numpy as np
import pytest

from harvis.config import SpeechSettings
from tests.security.inprocess import PASSWORD, account, app_client, bearer
from tests.support.backend import signup, start_backend
from tests.support.processes import free_port


def tone_wav(seconds: float = 2.0, rate: int = 16_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((0.2 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def test_usernames_have_one_spelling(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        account(client, "root")
        for bad in ("alice\n", "al ice", "", "a" * 65, "alice\x00"):
            r = client.post("/api/auth/signup", json={"username": bad, "password": PASSWORD})
            assert r.status_code in (400, 422), (bad, r.status_code)
        r = client.post("/api/auth/signup", json={"username": "Alice", "password": PASSWORD})
        assert r.status_code == 201 and r.json()["username"] == "alice", r.text
        r = client.post("/api/auth/signup", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 409, r.text
        r = client.post("/api/auth/login", json={"username": "ALICE", "password": PASSWORD})
        assert r.status_code == 200 and r.json()["user"]["username"] == "alice"


def test_nul_in_speech_input_is_400(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        r = client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": "\x00", "voice": "alloy"},
            headers=bearer(token),
        )
        assert r.status_code == 400, (r.status_code, r.headers.get("content-type"), len(r.content))
        assert r.json()["error"]["code"] == "invalid_input"
        r = client.post(
            "/v1/audio/speech",
            json={"model": "tts-1", "input": "hi\x00there", "voice": "alloy"},
            headers=bearer(token),
        )
        assert r.status_code == 400


@pytest.mark.parametrize("name", ["a\x00b", "bell\x07", "esc\x1b[31m", "\x7f"])
def test_voice_names_refuse_control_characters(tmp_path: Path, name: str) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        r = client.post(
            "/api/voices",
            data={"name": name, "consent": SpeechSettings().consent_text},
            files={"audio": ("ref.wav", tone_wav(), "audio/wav")},
            headers=bearer(token),
        )
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "invalid_name"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_dir_is_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old_voice = data_dir / "voices" / "u1" / "v.wav"
    old_voice.parent.mkdir(parents=True)
    old_voice.write_bytes(b"RIFF")
    for path in (data_dir, old_voice.parent.parent, old_voice.parent):
        path.chmod(0o755)
    old_voice.chmod(0o644)
    env = {"OLLAMA_URL": f"http://127.0.0.1:{free_port()}"}
    proc = start_backend(data_dir, env=env, log_path=tmp_path / "backend.log")
    try:
        signup(proc.url, "owner")  # writes to the database
        assert mode(data_dir) == 0o700
        dbs = list(data_dir.glob("harvis.db*"))
        assert dbs and all(mode(p) == 0o600 for p in dbs), {p.name: oct(mode(p)) for p in dbs}
        assert mode(old_voice) == 0o600 and mode(old_voice.parent) == 0o700
        made = [p for p in data_dir.rglob("*") if p.is_file() and not p.is_symlink()]
        loose = {str(p.relative_to(data_dir)): oct(mode(p)) for p in made if mode(p) & 0o077}
        assert not loose, f"files others can read: {loose}"
    finally:
        proc.stop()
