"""POST /api/voice/turn end to end: a real backend process with the embedded LLM node,
Silero VAD, Whisper tiny.en and Piper; the answer's audio is transcribed back."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.support.processes import Proc
from tests.support.voice_e2e import overlap, sse_events, transcribe_wavs, wav_of, whisper

pytestmark = pytest.mark.slow


def voice_turn(client: httpx.Client, wav: bytes, **form: str) -> list[tuple[str, dict[str, Any]]]:
    with client.stream(
        "POST", "/api/voice/turn", files={"audio": ("question.wav", wav, "audio/wav")}, data=form
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no"
        return list(sse_events(r))


def messages(client: httpx.Client, session_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/sessions/{session_id}/messages")
    assert r.status_code == 200, r.text
    return list(r.json())


def test_a_spoken_question_gets_a_spoken_answer_that_says_the_text_answer(
    alice: httpx.Client, sky_question: bytes
) -> None:
    events = voice_turn(alice, sky_question)
    names = [n for n, _ in events]
    assert names[:2] == ["session", "transcript"], names
    assert names[-1] == "done", events[-1]
    transcript = events[1][1]["text"]
    assert {"color", "sky"} <= set(transcript.lower().replace("?", "").split()), transcript
    answer = "".join(d["text"] for n, d in events if n == "token")
    audio = [d for n, d in events if n == "audio"]
    assert answer.strip() and audio
    assert [a["index"] for a in audio] == list(range(len(audio)))
    assert names.index("audio") < len(names) - 1
    heard = transcribe_wavs(whisper(), [wav_of(a) for a in audio])
    assert overlap(answer, heard) >= 0.6, (answer, heard)

    done = events[-1][1]
    assert done["status"] == "complete" and done["served_by"] and not done["fallback"]
    t = done["timings"]
    for key in ("decode_ms", "vad_ms", "stt_ms", "llm_ttft_ms", "first_audio_ms", "total_ms"):
        assert isinstance(t[key], int | float) and t[key] >= 0, (key, t)
    assert t["first_audio_ms"] <= t["total_ms"]

    session_id = events[0][1]["session_id"]
    saved = messages(alice, session_id)
    assert [(m["role"], m["kind"], m["status"]) for m in saved] == [
        ("user", "voice", "complete"),
        ("assistant", "voice", "complete"),
    ]
    assert saved[0]["content"] == transcript
    assert saved[1]["content"] == answer and saved[1]["id"] == done["message_id"]
    # the same stage timings reach /metrics
    metrics = alice.get("/metrics").text
    assert 'harvis_voice_turns_total{channel="turn",status="complete"}' in metrics
    assert 'harvis_voice_stage_seconds_count{stage="first_audio"}' in metrics


def test_a_client_that_leaves_mid_answer_leaves_it_saved_as_interrupted(
    alice: httpx.Client, story_question: bytes
) -> None:
    heard: list[str] = []
    session_id = ""
    with alice.stream(
        "POST", "/api/voice/turn", files={"audio": ("q.wav", story_question, "audio/wav")}
    ) as r:
        for name, data in sse_events(r):
            if name == "session":
                session_id = data["session_id"]
            if name == "audio":
                heard.append(data["text"])
                break  # hang up after the first clause
            assert name not in ("done", "error"), data
    assert session_id and heard
    deadline = time.monotonic() + 60
    answer: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = messages(alice, session_id)[-1]
        if answer["status"] != "streaming":
            break
        time.sleep(0.2)
    assert answer["status"] == "interrupted", answer
    # cut to what was sent: the first clause, maybe the one in flight when the client left
    assert answer["content"].startswith(heard[0])
    assert len(answer["content"]) < len(heard[0]) + 400


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    backend: Proc, alice: httpx.Client, bob: httpx.Client, sky_question: bytes
) -> None:
    files = {"audio": ("q.wav", sky_question, "audio/wav")}
    r = httpx.post(f"{backend.url}/api/voice/turn", files=files)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = alice.post("/api/voice/turn", files={"audio": ("q.wav", b"RIFF not really a wav", "audio/wav")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_audio", r.text
    r = alice.post("/api/voice/turn", files={"audio": ("q.wav", b"", "audio/wav")})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_audio", r.text
    r = alice.post("/api/voice/turn", data={"x": "1"})
    assert r.status_code == 422 and "error" in r.json()
    r = alice.post("/api/voice/turn", files=files, data={"voice": "no-such-voice"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "voice_not_found"
    # bob may not talk into alice's session
    alice_session = alice.post("/api/sessions", json={"title": "mine"}).json()["id"]
    r = bob.post("/api/voice/turn", files=files, data={"session_id": alice_session})
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    # silence: nothing to answer, nothing saved
    import io
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * 16000)
    events = voice_turn(alice, buf.getvalue(), session_id=alice_session)
    assert events == [
        ("error", {"code": "no_speech", "message": "No speech was heard in the audio.", "message_id": None})
    ]
    assert messages(alice, alice_session) == []
    assert alice.get("/health/live").status_code == 200
