"""One user never reaches another's sessions, messages, voices or API keys: every such id is
answered 404 (the same as an id that does not exist), through every route that takes one, on
a real backend process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.security.conftest import Hardened
from tests.support.backend import DEFAULT_PASSWORD, iter_events
from tests.support.speech import espeak_wav

pytestmark = pytest.mark.slow
REFERENCE = (
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "She sells sea shells by the sea shore every summer morning."
)


def user(hardened: Hardened, name: str) -> httpx.Client:
    url = hardened.proc.url
    owner = {"Authorization": f"Bearer {hardened.token}"}
    assert (
        httpx.patch(f"{url}/api/admin/settings", json={"allow_signup": True}, headers=owner).status_code
        == 200
    )
    r = httpx.post(f"{url}/api/auth/signup", json={"username": name, "password": DEFAULT_PASSWORD})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{url}/api/auth/login", json={"username": name, "password": DEFAULT_PASSWORD})
    return httpx.Client(
        base_url=url, timeout=180, headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )


@pytest.fixture(scope="module")
def pair(hardened: Hardened, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    alice, bob = user(hardened, "alice"), user(hardened, "bob")
    try:
        with alice.stream("POST", "/api/chat", json={"message": "alice's secret question"}) as r:
            events = list(iter_events(r))  # the node is down: the question is still saved
        session_id = events[0][1]["session_id"]
        key = alice.post("/api/keys", json={"name": "alice-key"}).json()
        consent = alice.get("/api/voices").json()["consent_text"]
        clip = espeak_wav(REFERENCE, tmp_path_factory.mktemp("ref") / "ref.wav", speed=140).read_bytes()
        r = alice.post(
            "/api/voices", files={"audio": ("ref.wav", clip)}, data={"name": "Alice", "consent": consent}
        )
        assert r.status_code == 201, r.text
        yield {
            "alice": alice,
            "bob": bob,
            "session": session_id,
            "key": key,
            "voice": r.json()["id"],
            "messages": alice.get(f"/api/sessions/{session_id}/messages").json(),
        }
    finally:
        alice.close()
        bob.close()


def not_found(r: httpx.Response, what: str) -> None:
    assert r.status_code == 404, f"{what}: HTTP {r.status_code} {r.text[:200]}"
    assert r.json()["error"]["code"], what


def test_sessions_and_messages(pair: dict[str, Any]) -> None:
    bob, sid = pair["bob"], pair["session"]
    not_found(bob.get(f"/api/sessions/{sid}"), "read session")
    not_found(bob.get(f"/api/sessions/{sid}/messages"), "read messages")
    not_found(bob.patch(f"/api/sessions/{sid}", json={"title": "mine now"}), "rename session")
    not_found(bob.delete(f"/api/sessions/{sid}"), "delete session")
    assert sid not in [s["id"] for s in bob.get("/api/sessions").json()]
    r = bob.post("/api/chat", json={"session_id": sid, "message": "let me in"})
    not_found(r, "chat into another's session")
    r = bob.post("/api/voice/turn", files={"audio": ("q.wav", b"RIFF")}, data={"session_id": sid})
    assert r.status_code in (400, 404), f"voice turn into another's session: {r.status_code}"
    # Bob's own ids that do not exist look exactly the same.
    assert bob.get("/api/sessions/" + "0" * 32).status_code == 404
    assert pair["alice"].get(f"/api/sessions/{sid}/messages").json() == pair["messages"]


def test_voices(pair: dict[str, Any]) -> None:
    bob, vid = pair["bob"], pair["voice"]
    assert vid not in [v["id"] for v in bob.get("/api/voices").json()["voices"]]
    not_found(bob.delete(f"/api/voices/{vid}"), "delete voice")
    not_found(
        bob.post("/v1/audio/speech", json={"input": "Hello.", "voice": vid, "response_format": "wav"}),
        "speak with another's voice",
    )
    not_found(bob.post("/v1/audio/speech", json={"input": "Hello.", "voice": {"id": vid}}), "voice as object")
    assert vid in [v["id"] for v in pair["alice"].get("/api/voices").json()["voices"]]


def test_keys_and_admin(pair: dict[str, Any], hardened: Hardened) -> None:
    bob, key = pair["bob"], pair["key"]
    assert key["id"] not in [k["id"] for k in bob.get("/api/keys").json()]
    not_found(bob.delete(f"/api/keys/{key['id']}"), "delete another's key")
    r = httpx.get(f"{hardened.proc.url}/api/auth/me", headers={"Authorization": f"Bearer {key['key']}"})
    assert r.json()["username"] == "alice", "alice's key still works after bob's attempt"
    r = bob.patch("/api/admin/settings", json={"allow_signup": True})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_ids_in_paths_are_not_injectable(pair: dict[str, Any], tmp_path: Path) -> None:
    bob = pair["bob"]
    for bad in ("' OR '1'='1", "%27%20OR%201=1--", "../" + pair["session"], pair["session"] + "%00"):
        r = bob.get(f"/api/sessions/{bad}/messages")
        assert r.status_code in (400, 404, 422), (bad, r.status_code)
