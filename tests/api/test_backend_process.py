"""The backend as users meet it: a real `harvis serve` process over HTTP, a real `harvis
llm-node` process behind it running the bundled model, real SQLite on disk."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.backend import DEFAULT_PASSWORD, iter_events, login, signup, start_backend
from tests.support.llm_node import SMALL_MODEL, start_llm_node
from tests.support.processes import Proc

pytestmark = pytest.mark.slow
LONG = "Write a long story about a dragon who learns to bake bread. Use many paragraphs."
SHORT_OPTIONS = {"num_predict": 12, "temperature": 0.0, "seed": 1}


@pytest.fixture(scope="module")
def node() -> Iterator[Proc]:
    proc = start_llm_node(threads=1)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def backend(node: Proc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    # Progress saved every 0.2 s, so the long answer streams through several saves however fast
    # this machine writes it (at the default 5 s a quick machine finishes first).
    env = {"OLLAMA_URL": node.url, "HARVIS_PIPELINE__PROGRESS_EVERY_S": "0.2"}
    proc = start_backend(tmp_path_factory.mktemp("backend"), env=env)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def alice(backend: Proc) -> Iterator[httpx.Client]:
    signup(backend.url, "alice")
    with closing(login(backend.url, "alice")) as client:
        yield client


def chat(
    client: httpx.Client, payload: dict[str, Any], stop_after_tokens: int | None = None
) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    with client.stream("POST", "/api/chat", json=payload) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-accel-buffering"] == "no" and r.headers["cache-control"] == "no-cache"
        for name, data in iter_events(r):
            events.append((name, data))
            tokens = sum(1 for n, _ in events if n == "token")
            if stop_after_tokens is not None and tokens >= stop_after_tokens:
                break  # leaving the with-block closes the connection: the client went away
    return events


def wait_for_status(
    client: httpx.Client, session_id: str, message_id: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in client.get(f"/api/sessions/{session_id}/messages").json():
            if m["id"] == message_id and m["status"] != "streaming":
                return dict(m)
        time.sleep(0.1)
    raise AssertionError(f"message {message_id} still streaming after {timeout}s")


def metric(url: str, pattern: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(pattern + r"\s+([0-9.e+-]+)", text))


def test_chat_streams_tokens_and_saves_both_messages(alice: httpx.Client) -> None:
    events = chat(alice, {"message": "Say hello.", "options": SHORT_OPTIONS})
    names = [n for n, _ in events]
    assert names[0] == "session" and names[-1] == "done" and "token" in names, names
    ids = events[0][1]
    done = events[-1][1]
    assert done["status"] == "complete" and done["message_id"] == ids["assistant_message_id"]
    assert done["served_by"].startswith(SMALL_MODEL + "@") and done["fallback"] is False
    assert (
        done["timings"]["llm_ttft_ms"] > 0 and done["timings"]["total_ms"] >= done["timings"]["llm_ttft_ms"]
    )
    assert 0 < done["usage"]["completion_tokens"] <= 12
    streamed = "".join(d["text"] for n, d in events if n == "token")

    user_msg, answer = alice.get(f"/api/sessions/{ids['session_id']}/messages").json()
    assert user_msg == {
        **user_msg,
        "id": ids["user_message_id"],
        "role": "user",
        "content": "Say hello.",
        "status": "complete",
    }
    assert answer["id"] == ids["assistant_message_id"] and answer["content"] == streamed and streamed.strip()
    assert answer["status"] == "complete" and answer["served_by"] == done["served_by"]
    session = alice.get(f"/api/sessions/{ids['session_id']}").json()
    assert session["title"] == "Say hello."

    # The next turn in the same session carries the history to the model.
    events = chat(alice, {"session_id": ids["session_id"], "message": "Again.", "options": SHORT_OPTIONS})
    assert (
        events[-1][0] == "done" and events[-1][1]["usage"]["prompt_tokens"] > done["usage"]["prompt_tokens"]
    )


def test_models_list_the_node(alice: httpx.Client, node: Proc) -> None:
    body = alice.get("/api/models").json()
    assert body["default"] == SMALL_MODEL
    [entry] = [m for m in body["models"] if m["name"] == SMALL_MODEL]
    assert entry["node"] == node.url and entry["provider"] == "ollama" and entry["healthy"] is True


def test_unknown_model_is_an_error_event_and_saved(alice: httpx.Client) -> None:
    events = chat(alice, {"message": "hi", "model": "no-such-model:1b"})
    name, error = events[-1]
    assert name == "error" and error["code"] == "model_not_found"
    saved = wait_for_status(alice, events[0][1]["session_id"], error["message_id"])
    assert saved["status"] == "error" and saved["error"]


def test_client_that_leaves_stops_the_generation_and_the_answer_is_saved_as_stopped(
    alice: httpx.Client, node: Proc
) -> None:
    cancelled_before = metric(
        node.url, r'harvis_llm_node_generations_total\{[^}]*done_reason="cancelled"[^}]*\}'
    )
    events = chat(alice, {"message": LONG, "options": {"num_predict": 600}}, stop_after_tokens=3)
    ids = events[0][1]
    saved = wait_for_status(alice, ids["session_id"], ids["assistant_message_id"])
    assert saved["status"] == "stopped"
    assert saved["content"].startswith("".join(d["text"] for n, d in events if n == "token"))
    deadline = time.monotonic() + 30
    pattern = r'harvis_llm_node_generations_total\{[^}]*done_reason="cancelled"[^}]*\}'
    while metric(node.url, pattern) <= cancelled_before:
        assert time.monotonic() < deadline, "the node kept generating after the client left"
        time.sleep(0.2)


def test_a_long_answer_saves_its_progress_while_it_streams(alice: httpx.Client) -> None:
    """So a crash loses only the last few seconds of an answer (PipelineSettings.progress_every_s)."""
    seen: dict[str, Any] = {}
    with alice.stream("POST", "/api/chat", json={"message": LONG, "options": {"num_predict": 2000}}) as r:
        tokens = 0
        for name, data in iter_events(r):
            if name == "session":
                seen = data
            tokens += name == "token"
            if name != "token" or tokens % 10:
                continue
            messages = alice.get(f"/api/sessions/{seen['session_id']}/messages").json()
            answer = messages[-1]
            if answer["status"] == "streaming" and answer["content"]:
                break  # progress is on disk while the answer still streams
        else:
            raise AssertionError("the answer ended before any progress was saved")
    assert answer["id"] == seen["assistant_message_id"]
    streamed_so_far = answer["content"]
    saved = wait_for_status(alice, seen["session_id"], seen["assistant_message_id"])
    assert saved["status"] == "stopped" and saved["content"].startswith(streamed_so_far)


def test_openai_client_streams_and_completes_with_an_api_key(alice: httpx.Client, backend: Proc) -> None:
    key = alice.post("/api/keys", json={"name": "sdk"}).json()["key"]
    client = openai.OpenAI(base_url=f"{backend.url}/v1", api_key=key, max_retries=0)
    assert SMALL_MODEL in [m.id for m in client.models.list()]

    stream = client.chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "Count to three."}],
        stream=True,
        max_tokens=16,
        temperature=0,
        seed=3,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None and 0 < chunks[-1].usage.completion_tokens <= 16

    reply = client.chat.completions.create(
        model=SMALL_MODEL,
        messages=[{"role": "user", "content": "Count to three."}],
        max_tokens=16,
        temperature=0,
        seed=3,
    )
    assert reply.choices[0].message.content == text, "same seed, same text, streamed or not"
    assert reply.usage is not None and reply.usage.completion_tokens == chunks[-1].usage.completion_tokens

    for stream_it in (False, True):  # a streamed request fails before its first byte: a real 404
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="no-such-model", messages=[{"role": "user", "content": "x"}], stream=stream_it
            )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{backend.url}/v1", api_key="hv-revoked", max_retries=0).models.list()


def test_second_user_cannot_reach_first_users_session_nor_use_a_revoked_key(
    alice: httpx.Client, backend: Proc
) -> None:
    alice.patch("/api/admin/settings", json={"allow_signup": True}).raise_for_status()
    signup(backend.url, "bob")
    sid = alice.post("/api/sessions", json={"title": "alice only"}).json()["id"]
    with closing(login(backend.url, "bob")) as bob:
        assert bob.get(f"/api/sessions/{sid}").status_code == 404
        assert bob.get(f"/api/sessions/{sid}/messages").status_code == 404
        assert bob.patch(f"/api/sessions/{sid}", json={"title": "bob's"}).status_code == 404
        assert bob.delete(f"/api/sessions/{sid}").status_code == 404
        assert sid not in [s["id"] for s in bob.get("/api/sessions").json()]

        created = bob.post("/api/keys", json={"name": "script"}).json()
        with_key = {"Authorization": f"Bearer {created['key']}"}
        assert httpx.get(f"{backend.url}/api/auth/me", headers=with_key).json()["username"] == "bob"
        assert bob.delete(f"/api/keys/{created['id']}").status_code == 204
        assert httpx.get(f"{backend.url}/api/auth/me", headers=with_key).status_code == 401
        assert httpx.get(f"{backend.url}/v1/models", headers=with_key).status_code == 401
    assert alice.get(f"/api/sessions/{sid}").json()["title"] == "alice only"


def test_a_crash_and_restart_lose_nothing_and_orphaned_answers_are_closed(node: Proc, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = start_backend(data_dir, env={"OLLAMA_URL": node.url}, log_path=tmp_path / "first.log")
    try:
        signup(first.url, "carol")
        client = login(first.url, "carol")
        token = client.cookies["harvis_session"]
        events = chat(client, {"message": "Say hi.", "options": SHORT_OPTIONS})
        ids = events[0][1]
        key = client.post("/api/keys", json={"name": "k"}).json()["key"]
        before = client.get(f"/api/sessions/{ids['session_id']}/messages").json()
        with client.stream("POST", "/api/chat", json={"message": LONG, "options": {"num_predict": 600}}) as r:
            stream = iter_events(r)
            orphan = next(stream)[1]
            # smollm2 cannot use tools: that is said first (tool_notice), then the answer streams.
            assert next(n for n, _ in stream if n != "tool_notice") == "token"
            first.kill()  # SIGKILL mid-answer: a crash, not a shutdown
        client.close()
    finally:
        first.stop()

    second = start_backend(data_dir, env={"OLLAMA_URL": node.url}, log_path=tmp_path / "second.log")
    try:
        # The same token still works: the signing secret was kept in the data dir.
        with httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {token}"}) as again:
            assert again.get(f"/api/sessions/{ids['session_id']}/messages").json() == before
            assert {s["id"] for s in again.get("/api/sessions").json()} == {
                ids["session_id"],
                orphan["session_id"],
            }
            question, answer = again.get(f"/api/sessions/{orphan['session_id']}/messages").json()
        assert question["id"] == orphan["user_message_id"] and question["content"] == LONG
        assert answer["id"] == orphan["assistant_message_id"]
        assert answer["status"] == "error" and "server stopped" in answer["error"]
        assert (
            httpx.get(f"{second.url}/api/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code
            == 200
        )
        login(second.url, "carol", DEFAULT_PASSWORD).close()
    finally:
        second.stop()


def test_node_killed_mid_stream_leaves_question_and_partial_answer_with_the_error(tmp_path: Path) -> None:
    doomed = start_llm_node(threads=1, log_path=tmp_path / "doomed-node.log")
    backend = None
    try:
        backend = start_backend(tmp_path / "data", env={"OLLAMA_URL": doomed.url})
        signup(backend.url, "dave")
        with closing(login(backend.url, "dave")) as client:
            events: list[tuple[str, Any]] = []
            with client.stream(
                "POST", "/api/chat", json={"message": LONG, "options": {"num_predict": 800}}
            ) as r:
                for name, data in iter_events(r):
                    events.append((name, data))
                    if name == "token" and sum(1 for n, _ in events if n == "token") == 5:
                        doomed.kill()  # SIGKILL by PID, as a crash would
            names = [n for n, _ in events]
            assert names[-1] == "error", names
            error = events[-1][1]
            ids = events[0][1]
            assert error["message_id"] == ids["assistant_message_id"] and error["message"]
            streamed = "".join(d["text"] for n, d in events if n == "token")
            question, answer = client.get(f"/api/sessions/{ids['session_id']}/messages").json()
            assert question["content"] == LONG and question["status"] == "complete"
            assert answer["status"] == "error" and answer["error"]
            assert answer["content"] == streamed and len(streamed) > 0
    finally:
        if backend is not None:
            backend.stop()
        doomed.stop()


def test_metrics_show_time_to_first_token_and_router_decisions(alice: httpx.Client, backend: Proc) -> None:
    chat(alice, {"message": "Hi.", "options": SHORT_OPTIONS})
    text = httpx.get(f"{backend.url}/metrics", timeout=10).text  # no credential needed
    assert (
        metric(
            backend.url, r'harvis_llm_time_to_first_token_seconds_count\{api="chat",model="smollm2:135m"\}'
        )
        >= 1
    )
    assert metric(backend.url, r'harvis_llm_streams_total\{api="chat",status="complete"\}') >= 1
    assert "harvis_router_" in text
    assert 'harvis_http_requests_total{method="POST",route="/api/chat",status="200"}' in text
