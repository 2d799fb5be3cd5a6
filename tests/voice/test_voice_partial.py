"""The low-latency path through the real socket, real Silero and real Whisper: a partial
transcript of what was said so far arrives while the user is still mid-sentence, and the
turn is answered on all of it, with the per-stage trace in its `done` timings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import token_of
from tests.support.processes import Proc
from tests.support.voice_e2e import samples_frames, spoken_samples
from tests.voice.test_voice_ws import answer_of, read_until, socket

pytestmark = pytest.mark.slow


def test_a_partial_transcript_arrives_before_the_user_has_finished(
    backend: Proc, alice: httpx.Client, question_dir: Path
) -> None:
    first = spoken_samples("Tell me a short story about", question_dir / "first.wav")
    rest = spoken_samples("a brave dragon.", question_dir / "rest.wav")
    seen: list[dict[str, Any]] = []
    with socket(backend, token_of(alice)) as ws:
        read_until(ws, "ready", seen)
        ws.send(json.dumps({"type": "start"}))
        read_until(ws, "listening", seen)
        # The first words, then a pause shorter than any end-of-turn wait: the server hears
        # only this until the partial comes (the rest of the sentence is held back till then).
        for frame in samples_frames(first, silence_s=0.3):
            ws.send(frame)
        partial = read_until(ws, "partial", seen)
        assert {"story"} <= set(partial["text"].lower().replace(".", " ").split()), partial
        assert "speech_ended" not in [e["type"] for e in seen]  # the user is still mid-sentence
        for frame in samples_frames(rest, silence_s=1.5):
            ws.send(frame)
        read_until(ws, "speech_ended", seen)
        heard = read_until(ws, "heard", seen)
        assert "story" in heard["text"].lower() and "dragon" in heard["text"].lower(), heard
        done = read_until(ws, "done", seen)
        assert done["status"] == "complete"
        timings = done["timings"]
        assert timings["speculation"] in ("adopted", "mismatch", "none")
        order = ["eos_turn_end_ms", "eos_first_audio_sent_ms"]
        assert all(timings[k] is not None for k in order) and timings[order[0]] < timings[order[1]]
        session_id = next(e for e in seen if e["type"] == "session")["session_id"]
    saved = answer_of(alice, session_id)
    assert saved["status"] == "complete" and saved["content"]
    user = alice.get(f"/api/sessions/{session_id}/messages").json()[0]
    assert user["role"] == "user" and "dragon" in user["content"].lower()
