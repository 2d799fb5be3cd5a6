"""Timers announced by a real backend: a 1 s timer set over the API (the tools' own code) goes
off, reaches the user's web stream (SSE) and their open voice socket, spoken as a WAV clip;
another user's stream and socket hear nothing of it."""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from tests.support.backend import iter_events, token_of
from tests.support.processes import Proc
from tests.voice.test_voice_ws import read_until, socket

pytestmark = pytest.mark.slow


def next_event(events: Iterator[tuple[str, dict[str, Any]]], name: str) -> dict[str, Any]:
    for seen, data in events:  # bounded by the stream's read timeout
        if seen == name:
            return data
        assert seen != "error", data
    raise AssertionError(f"the stream ended before a {name!r} event")


def test_a_timer_goes_off_on_the_web_stream_and_the_voice_socket(
    backend: Proc, alice: httpx.Client, bob: httpx.Client
) -> None:
    seen: list[dict[str, Any]] = []
    with (
        socket(backend, token_of(alice)) as ws,
        socket(backend, token_of(bob)) as bob_ws,
        alice.stream("GET", "/api/timers/events", timeout=60) as stream,
        bob.stream("GET", "/api/timers/events", timeout=60) as bob_stream,
    ):
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        events, bob_events = iter_events(stream), iter_events(bob_stream)
        next_event(events, "ready")
        next_event(bob_events, "ready")
        read_until(ws, "ready", seen)
        read_until(bob_ws, "ready", [])

        r = alice.post("/api/timers", json={"seconds": 1, "label": "tea"})
        assert r.status_code == 201, r.text
        timer = r.json()["timer"]

        fired = next_event(events, "timer")
        assert fired["id"] == timer["id"] and fired["kind"] == "timer" and fired["text"] == "tea"
        assert fired["due_at"] and fired["fired_at"] and fired["say"] == "The tea timer is done."
        assert fired["late_s"] < 5  # on time, not announced as late

        shown = read_until(ws, "timer", seen)
        assert {k: shown[k] for k in ("id", "kind", "text", "say")} == {
            "id": timer["id"],
            "kind": "timer",
            "text": "tea",
            "say": "The tea timer is done.",
        }
        spoken = read_until(ws, "timer_audio", seen)
        assert spoken["id"] == timer["id"] and spoken["format"] == "wav"
        with wave.open(io.BytesIO(base64.b64decode(spoken["data"]))) as clip:
            assert (
                clip.getframerate() == spoken["sample_rate"] and clip.getnframes() > clip.getframerate() // 2
            )
            pcm = np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2")
        assert np.abs(pcm).max() > 1000, "the announcement is silent"

        # bob's own timer is the first his stream and socket are told of: alice's never reached them
        r = bob.post("/api/timers", json={"seconds": 1, "label": "bread"})
        assert r.status_code == 201, r.text
        bobs = r.json()["timer"]["id"]
        assert next_event(bob_events, "timer")["id"] == bobs
        assert read_until(bob_ws, "timer", [])["id"] == bobs

    listed = alice.get("/api/timers").json()["timers"]
    assert [(t["id"], t["status"]) for t in listed if t["id"] == timer["id"]] == [(timer["id"], "fired")]
    assert [t["id"] for t in bob.get("/api/timers").json()["timers"]] == [bobs]
