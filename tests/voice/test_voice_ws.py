"""WS /api/voice/ws end to end: 16 kHz PCM in, real Silero end-of-turn detection, barge-in
by a cancel message and by the user's voice, auth and bad messages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.backend import token_of
from tests.support.processes import Proc
from tests.support.voice_e2e import pcm16_frames

pytestmark = pytest.mark.slow


@contextmanager
def socket(backend: Proc, token: str | None, **options: Any) -> Iterator[ClientConnection]:
    url = backend.url.replace("http://", "ws://") + "/api/voice/ws" + (f"?token={token}" if token else "")
    with connect(url, open_timeout=30, max_size=2**24, **options) as ws:
        yield ws


def read_until(
    ws: ClientConnection, kind: str, seen: list[dict[str, Any]], timeout: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = json.loads(ws.recv(timeout=deadline - time.monotonic()))
        seen.append(event)
        if event["type"] == kind:
            return dict(event)
        assert event["type"] != "error", event
    raise AssertionError(f"no {kind!r} within {timeout}s: {[e['type'] for e in seen]}")


def say(ws: ClientConnection, wav: bytes, silence_s: float = 1.2) -> None:
    for frame in pcm16_frames(wav, silence_s=silence_s):
        ws.send(frame)


def answer_of(client: httpx.Client, session_id: str) -> dict[str, Any]:
    """The session's last message, once it is no longer streaming (bounded poll)."""
    deadline = time.monotonic() + 60
    while True:
        last = dict(client.get(f"/api/sessions/{session_id}/messages").json()[-1])
        if last["status"] != "streaming" or time.monotonic() > deadline:
            return last
        time.sleep(0.2)


def test_hands_free_turn_then_cancel_mid_answer(
    backend: Proc, alice: httpx.Client, story_question: bytes, sky_question: bytes
) -> None:
    seen: list[dict[str, Any]] = []
    with socket(backend, token_of(alice)) as ws:
        read_until(ws, "ready", seen)
        ws.send(json.dumps({"type": "start"}))
        read_until(ws, "listening", seen)
        say(ws, sky_question)
        read_until(ws, "speech_started", seen)
        read_until(ws, "speech_ended", seen)
        transcript = read_until(ws, "transcript", seen)
        assert "sky" in transcript["text"].lower(), transcript
        done = read_until(ws, "done", seen)
        assert done["status"] == "complete"
        session_id = next(e for e in seen if e["type"] == "session")["session_id"]
        assert any(e["type"] == "audio" for e in seen)

        # second turn in the same session: a long answer, cancelled after its first clause
        seen.clear()
        say(ws, story_question)
        read_until(ws, "audio", seen)
        ws.send(json.dumps({"type": "cancel"}))
        sent_at = len(seen)
        read_until(ws, "interrupted", seen)
        after_cancel = [e for e in seen[sent_at:] if e["type"] == "audio"]
        assert len(after_cancel) <= 1, "audio kept coming after the cancel"
        done = next(e for e in seen if e["type"] == "done")
        assert done["status"] == "interrupted"
        assert next(e for e in seen if e["type"] == "session")["session_id"] == session_id
        spoken = " ".join(e["text"] for e in seen if e["type"] == "audio")
    saved = answer_of(alice, session_id)
    assert saved["status"] == "interrupted" and saved["kind"] == "voice"
    assert saved["content"] == spoken  # cut to what was sent


def test_talking_over_the_answer_stops_it(backend: Proc, alice: httpx.Client, story_question: bytes) -> None:
    seen: list[dict[str, Any]] = []
    with socket(backend, token_of(alice)) as ws:
        read_until(ws, "ready", seen)
        ws.send(json.dumps({"type": "start"}))
        say(ws, story_question)
        read_until(ws, "audio", seen)
        mark = len(seen)
        say(ws, story_question, silence_s=0)  # the user starts talking again
        read_until(ws, "interrupted", seen)
        assert any(e["type"] == "speech_started" for e in seen[mark:])
        assert len([e for e in seen[mark:] if e["type"] == "audio"]) <= 1
        session_id = next(e for e in seen if e["type"] == "session")["session_id"]
    assert answer_of(alice, session_id)["status"] == "interrupted"


def test_sockets_need_a_user_and_well_formed_messages(backend: Proc, alice: httpx.Client) -> None:
    with socket(backend, None) as ws:
        event = json.loads(ws.recv(timeout=30))
        assert event["type"] == "error" and event["code"] == "unauthorized"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    with socket(backend, "not-a-token") as ws:
        assert json.loads(ws.recv(timeout=30))["code"] == "unauthorized"
    seen: list[dict[str, Any]] = []
    with socket(backend, token_of(alice)) as ws:
        read_until(ws, "ready", seen)
        ws.send(b"\0\0" * 100)
        assert json.loads(ws.recv(timeout=30))["code"] == "not_started"
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=30))["code"] == "bad_message"
        ws.send(json.dumps({"type": "start", "session_id": "0" * 32}))
        assert json.loads(ws.recv(timeout=30))["code"] == "session_not_found"
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "listening"
        ws.send(b"\0" * 3)  # odd length: not PCM16
        assert json.loads(ws.recv(timeout=30))["code"] == "bad_audio_frame"
    assert alice.get("/api/auth/me").status_code == 200


def test_a_playback_report_saves_the_answer_as_heard(
    backend: Proc, alice: httpx.Client, story_question: bytes
) -> None:
    """The browser says how far it played (clause and offset) when the user cut in: the saved
    answer is cut there, word by word within the clause, and marked interrupted."""
    seen: list[dict[str, Any]] = []
    with socket(backend, token_of(alice)) as ws:
        read_until(ws, "ready", seen)
        ws.send(json.dumps({"type": "start"}))
        say(ws, story_question)
        first = read_until(ws, "audio", seen)
        ws.send(json.dumps({"type": "cancel"}))
        read_until(ws, "interrupted", seen)
        message_id = next(e for e in seen if e["type"] == "session")["assistant_message_id"]
        ws.send(json.dumps({"type": "played", "message_id": message_id, "index": 0, "offset_s": 0.8}))
        truncated = read_until(ws, "truncated", seen)
        ws.send(json.dumps({"type": "played", "message_id": message_id, "index": "x", "offset_s": 1}))
        assert json.loads(ws.recv(timeout=30))["code"] == "bad_message"
        session_id = next(e for e in seen if e["type"] == "session")["session_id"]
    heard = truncated["text"]
    assert truncated["message_id"] == message_id
    assert heard and first["text"].startswith(heard) and len(heard) < len(first["text"]), (heard, first)
    saved = answer_of(alice, session_id)
    assert saved["status"] == "interrupted" and saved["content"] == heard
