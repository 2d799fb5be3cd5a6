"""The backend killed with SIGKILL (a crash, not a shutdown) and started again on the same
data dir: sessions, messages, voices and API keys are all there, and an answer that was
streaming at the moment of the crash does not stay "streaming" for ever."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import iter_events, login, signup, start_backend, token_of
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc
from tests.support.speech import espeak_wav

pytestmark = pytest.mark.slow
REFERENCE = (
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "She sells sea shells by the sea shore every summer morning. "
    "A journey of a thousand miles begins with a single step forward."
)


@dataclass
class Before:
    token: str
    key: str
    key_id: str
    session_id: str
    messages: list[dict[str, Any]]
    voice: dict[str, Any]
    voice_files: list[str]
    orphan: dict[str, str]  # ids of the chat that was streaming when the backend died
    after: Proc


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Before]:
    tmp = tmp_path_factory.mktemp("crash")
    data_dir = tmp / "data"
    node = start_llm_node(threads=1)
    second: Proc | None = None
    try:
        first = start_backend(data_dir, env={"OLLAMA_URL": node.url}, log_path=tmp / "first.log")
        try:
            signup(first.url, "survivor")
            with closing(login(first.url, "survivor", timeout=300)) as client:
                token = token_of(client)
                with client.stream(
                    "POST", "/api/chat", json={"message": "Say hi.", "options": {"num_predict": 4}}
                ) as r:
                    events = list(iter_events(r))
                assert events[-1][0] == "done", events[-1]
                session_id = events[0][1]["session_id"]
                key = client.post("/api/keys", json={"name": "crash-key"}).json()
                consent = client.get("/api/voices").json()["consent_text"]
                clip = espeak_wav(REFERENCE, tmp / "ref.wav", speed=140).read_bytes()
                r = client.post(
                    "/api/voices",
                    files={"audio": ("ref.wav", clip)},
                    data={"name": "Mine", "consent": consent},
                )
                assert r.status_code == 201, r.text
                voice = r.json()
                messages = client.get(f"/api/sessions/{session_id}/messages").json()
                voice_files = sorted(
                    str(p.relative_to(data_dir)) for p in (data_dir / "voices").rglob("*") if p.is_file()
                )
                # A long answer is streaming when the crash comes.
                with client.stream(
                    "POST",
                    "/api/chat",
                    json={
                        "message": "Write a long story about a clockmaker.",
                        "options": {"num_predict": 600},
                    },
                ) as r:
                    orphan: dict[str, str] = {}
                    tokens = 0
                    for name, data in iter_events(r):
                        if name == "session":
                            orphan = data
                        tokens += name == "token"
                        if tokens >= 3:
                            first.kill()  # SIGKILL by PID
                            break
        finally:
            first.stop()
        assert first.popen.returncode == -9
        second = start_backend(data_dir, env={"OLLAMA_URL": node.url}, log_path=tmp / "second.log")
        yield Before(token, key["key"], key["id"], session_id, messages, voice, voice_files, orphan, second)
    finally:
        if second is not None:
            second.stop()
        node.stop()


def test_everything_acknowledged_before_the_crash_is_there(crashed: Before) -> None:
    url = crashed.after.url
    with httpx.Client(base_url=url, headers=bearer(crashed.token), timeout=60) as again:
        assert again.get("/api/auth/me").json()["username"] == "survivor"
        assert again.get(f"/api/sessions/{crashed.session_id}/messages").json() == crashed.messages
        assert crashed.session_id in [s["id"] for s in again.get("/api/sessions").json()]
        voices = again.get("/api/voices").json()["voices"]
        assert [v["id"] for v in voices] == [crashed.voice["id"]]
        assert [k["id"] for k in again.get("/api/keys").json()] == [crashed.key_id]
    data_dir = Path(crashed.after.log_path).parent / "data"
    assert (
        sorted(str(p.relative_to(data_dir)) for p in (data_dir / "voices").rglob("*") if p.is_file())
        == crashed.voice_files
    )
    r = httpx.get(f"{url}/api/auth/me", headers=bearer(crashed.key), timeout=30)
    assert r.status_code == 200 and r.json()["username"] == "survivor"
    login(url, "survivor").close()


def test_the_answer_streaming_at_the_crash_is_not_left_streaming(crashed: Before) -> None:
    with httpx.Client(base_url=crashed.after.url, headers=bearer(crashed.token), timeout=60) as again:
        messages = {
            m["id"]: m for m in again.get(f"/api/sessions/{crashed.orphan['session_id']}/messages").json()
        }
    question = messages[crashed.orphan["user_message_id"]]
    answer = messages[crashed.orphan["assistant_message_id"]]
    assert question["status"] == "complete" and question["content"].startswith("Write a long story")
    assert answer["status"] in ("interrupted", "error", "stopped"), (
        f"after a crash and restart the answer still says {answer['status']!r}: the UI would wait for ever"
    )
