"""Tools in text chats and voice turns, end to end: a real `harvis serve` over a real node
serving the tool-capable model; the built-in tools run in the backend, the calls are saved
and come back with the session's messages."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.support.backend import iter_events, login, signup, start_backend
from tests.support.llm_node import SMALL_MODEL, TOOL_MODEL, start_llm_node, tool_models_dir
from tests.support.processes import Proc
from tests.support.voice_e2e import spoken_wav

pytestmark = pytest.mark.slow
ZONE = "Asia/Kolkata"  # UTC+05:30: an hour no server clock here would give by chance


@pytest.fixture(scope="module")
def alice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    node = start_llm_node(extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())})
    backend: Proc | None = None
    try:
        env = {
            "OLLAMA_URL": node.url,
            "HARVIS_LLM__DEFAULT_MODEL": TOOL_MODEL,
            "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
            "HARVIS_PIPELINE__SEED": "1",  # voice answers sampled the same way every run
        }
        backend = start_backend(tmp_path_factory.mktemp("backend"), env=env, timeout=300)
        signup(backend.url, "alice")
        with closing(login(backend.url, "alice", timeout=600)) as client:
            yield client
    finally:
        if backend is not None:
            backend.stop()
        node.stop()


def chat(client: httpx.Client, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    with client.stream("POST", "/api/chat", json=body) as r:
        assert r.status_code == 200, r.read()
        return list(iter_events(r))


def saved_answer(client: httpx.Client, session_id: str) -> dict[str, Any]:
    r = client.get(f"/api/sessions/{session_id}/messages")
    assert r.status_code == 200, r.text
    return dict(r.json()[-1])


def test_a_text_chat_calculates_with_the_tool_and_saves_the_call(alice: httpx.Client) -> None:
    events = chat(
        alice, message="What is 12*34? Use the calculate tool.", options={"temperature": 0, "seed": 1}
    )
    names = [n for n, _ in events]
    assert names[0] == "session" and names[-1] == "done", events
    calls = [d for n, d in events if n == "tool_call"]
    results = [d for n, d in events if n == "tool_result"]
    assert calls and calls[0]["name"] == "calculate", events
    assert results[0]["ok"] is True and results[0]["result"].endswith("= 408"), results
    answer = "".join(d["text"] for n, d in events if n == "token")
    assert "408" in answer, events
    done = events[-1][1]
    assert done["status"] == "complete" and done["timings"]["tool_rounds"] >= 1

    saved = saved_answer(alice, events[0][1]["session_id"])
    assert saved["content"] == answer and saved["status"] == "complete"
    assert saved["tool_calls"][0] == {
        "name": "calculate",
        "arguments": calls[0]["arguments"],
        "result": results[0]["result"],
        "ok": True,
        "ms": results[0]["ms"],
    }


def test_a_model_without_tool_support_answers_and_says_so(alice: httpx.Client) -> None:
    events = chat(alice, message="Say hello.", model=SMALL_MODEL, options={"num_predict": 8})
    notices = [d for n, d in events if n == "tool_notice"]
    assert [n["code"] for n in notices] == ["tools_unsupported"], events
    assert events[-1][0] == "done" and events[-1][1]["timings"]["tools_unsupported"] == 1


def test_an_unknown_time_zone_is_refused_before_anything_runs(alice: httpx.Client) -> None:
    r = alice.post("/api/chat", json={"message": "hi", "timezone": "Mars/Olympus"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_timezone", r.text


def test_a_voice_turn_tells_the_time_in_the_users_zone(alice: httpx.Client, tmp_path: Path) -> None:
    wav = spoken_wav("What time is it?", tmp_path / "time.wav")
    with alice.stream(
        "POST",
        "/api/voice/turn",
        files={"audio": ("q.wav", wav, "audio/wav")},
        data={"timezone": ZONE},
    ) as r:
        assert r.status_code == 200, r.read()
        events = list(iter_events(r))
        asked_at = dt.datetime.now(ZoneInfo(ZONE))
    names = [n for n, _ in events]
    assert names[-1] == "done", events
    results = [d for n, d in events if n == "tool_result"]
    said = [(n, d.get("text", d.get("name"))) for n, d in events if n != "audio"]
    assert results and results[0]["name"] == "get_current_time" and results[0]["ok"], "".join(
        str(t) for _, t in said
    )
    assert ZONE in results[0]["result"]
    answer = "".join(d["text"] for n, d in events if n == "token")
    hours = {int(h) % 12 for h in re.findall(r"(?<!\d)(\d{1,2})[:.]\d{2}(?!\d)", answer)}
    # The hour when the answer came, or the one before (the turn may straddle it).
    expected = {asked_at.hour % 12, (asked_at - dt.timedelta(hours=1)).hour % 12}
    assert hours & expected, (answer, asked_at)
    assert "audio" in names and names.index("tool_result") < names.index("done")
    saved = saved_answer(alice, events[0][1]["session_id"])
    assert saved["kind"] == "voice" and saved["tool_calls"][0]["name"] == "get_current_time"
