"""A cold model is loaded while the user is still talking: the realtime socket warms it as
soon as speech starts, before the turn ends (real router and LLM node, fresh backend)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.backend import login, running_backend, signup, token_of
from tests.support.processes import Proc
from tests.support.voice_e2e import pcm16_frames
from tests.voice.conftest import VOICE_ENV

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cold_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    """Its own backend: the shared one has loaded the model in earlier tests."""
    with running_backend(tmp_path_factory.mktemp("cold-backend"), env=VOICE_ENV, timeout=300) as proc:
        signup(proc.url, "carol")
        yield proc


def loaded(client: httpx.Client, model: str) -> bool:
    r = client.get("/api/models")
    assert r.status_code == 200, r.text
    return any(m["name"] == model and m["loaded"] for m in r.json()["models"])


def test_speech_start_warms_a_cold_model_before_the_turn_ends(
    cold_backend: Proc, story_question: bytes
) -> None:
    carol = login(cold_backend.url, "carol", timeout=300)
    try:
        warms_while_talking(cold_backend, carol, story_question)
    finally:
        carol.close()


def warms_while_talking(backend: Proc, carol: httpx.Client, question: bytes) -> None:
    model = carol.get("/api/models").json()["default"]
    assert not loaded(carol, model), "the model should start cold in a fresh backend"
    url = backend.url.replace("http://", "ws://") + f"/api/voice/ws?token={token_of(carol)}"
    with connect(url, open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "ready"
        ws.send(json.dumps({"type": "start"}))
        assert json.loads(ws.recv(timeout=30))["type"] == "listening"
        for frame in pcm16_frames(question):  # speech only: the user has not stopped talking
            ws.send(frame)
        events: list[dict[str, Any]] = []
        while not any(e["type"] == "speech_started" for e in events):
            events.append(json.loads(ws.recv(timeout=60)))
        deadline = time.monotonic() + 120
        while not loaded(carol, model):
            assert time.monotonic() < deadline, "the model was not warmed while the user talked"
            time.sleep(0.2)
        assert carol.get("/api/sessions").json() == []  # no turn has run: the warm-up did it
