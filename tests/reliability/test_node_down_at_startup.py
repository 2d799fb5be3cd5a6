"""The LLM node is unreachable when the backend starts: the backend still starts, says why in
/health/ready, answers requests with a clear 503, and recovers by itself when the node is back."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import httpx
import pytest

from tests.support.backend import login, signup, start_backend
from tests.support.llm_node import start_llm_node
from tests.support.processes import free_port, wait_until
from tests.support.reliability import chat_events

pytestmark = pytest.mark.slow


def test_backend_starts_without_its_node_and_recovers_by_itself(tmp_path: Path) -> None:
    port = free_port()
    node_url = f"http://127.0.0.1:{port}"
    backend = start_backend(
        tmp_path / "data", env={"OLLAMA_URL": node_url, "HARVIS_LLM__PROBE_INTERVAL_S": "1"}
    )
    node = None
    try:
        ready = httpx.get(f"{backend.url}/health/ready", timeout=30)
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["database"]["ok"] is True
        assert checks["llm"]["ok"] is False
        [reported] = checks["llm"]["nodes"]
        assert reported["url"] == node_url and reported["ok"] is False and reported["detail"]

        signup(backend.url, "early")
        with closing(login(backend.url, "early")) as client:
            r = client.post(
                "/v1/chat/completions",
                timeout=60,
                json={"model": "smollm2:135m", "messages": [{"role": "user", "content": "hi"}]},
            )
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            # Which node is down is the operator's business (the log says), not the client's.
            assert error["code"] == "llm_unavailable" and "cannot connect" in error["message"], error
            assert node_url not in r.text, r.text
            events = chat_events(client, {"message": "Anyone home?"}, timeout=60)
            assert events[-1][0] == "error" and events[-1][1]["code"] == "llm_unavailable", events[-1]
            assert node_url not in str(events[-1]), events[-1]
            question, answer = client.get(f"/api/sessions/{events[0][1]['session_id']}/messages").json()
            assert question["content"] == "Anyone home?" and answer["status"] == "error"

            node = start_llm_node(port=port, threads=1, log_path=tmp_path / "node.log")
            wait_until(
                lambda: httpx.get(f"{backend.url}/health/ready", timeout=30).status_code == 200,
                timeout=60,
                what="/health/ready turns 200 once the node answers",
            )
            events = chat_events(client, {"message": "Now?", "options": {"num_predict": 4}}, timeout=300)
            assert events[-1][0] == "done", events[-1]
    finally:
        backend.stop()
        if node is not None:
            node.stop()
