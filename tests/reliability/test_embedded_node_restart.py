"""The embedded LLM node killed with SIGKILL under a real `harvis serve`: the backend reaps it
(no zombie), says so (/health/ready, /api/models), keeps its address out of client errors, and
starts it again, so that a chat works again without restarting the backend."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.llm_node import SMALL_MODEL
from tests.support.processes import wait_until

pytestmark = pytest.mark.slow


def proc_state(pid: int) -> str | None:
    """The process's state letter (Z = zombie), None once it has been reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def chat(base: str, token: str) -> httpx.Response:
    return httpx.post(
        base + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": SMALL_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2},
        timeout=120,
    )


def embedded(base: str) -> dict[str, Any]:
    llm = httpx.get(base + "/health/ready", timeout=30).json()["checks"]["llm"]
    assert "embedded_node" in llm, f"/health/ready does not report the embedded node: {llm}"
    return dict(llm, **{"state": llm["embedded_node"]["state"]})


def test_a_killed_embedded_node_is_reaped_reported_and_restarted(tmp_path: Path) -> None:
    backend = start_backend(tmp_path / "data")
    try:
        match = re.search(r"embedded LLM node at (http://127\.0\.0\.1:(\d+)) \(pid (\d+)\)", backend.log())
        assert match, f"serve did not say it started the embedded node:\n{backend.log()[-2000:]}"
        node_url, port, node_pid = match.group(1), match.group(2), int(match.group(3))
        signup(backend.url, "kill9")
        client = login(backend.url, "kill9")
        token = token_of(client)
        client.close()
        assert chat(backend.url, token).status_code == 200

        os.kill(node_pid, signal.SIGKILL)
        r = chat(backend.url, token)  # the node is gone: a clear error, without its address
        assert r.status_code in (502, 503), r.text
        assert node_url not in r.text and f":{port}" not in r.text, f"internal address leaked: {r.text}"
        wait_until(
            lambda: proc_state(node_pid) is None,
            timeout=30,
            what=f"the killed node (pid {node_pid}) to be reaped, not left a zombie ({proc_state(node_pid)})",
        )
        models = httpx.get(
            backend.url + "/api/models", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ).json()["models"]
        assert not any(m["loaded"] for m in models), f"a dead node's model is shown loaded: {models}"
        # Reported while it is down (until it answers again, after a backoff of a second or more).
        down = wait_until(
            lambda: (state := embedded(backend.url)) and state["state"] != "running" and state,
            timeout=30,
            what="/health/ready to report the embedded node down",
            every=0.05,
        )
        assert down["ok"] is False and "embedded" in down["detail"]

        wait_until(
            lambda: chat(backend.url, token).status_code == 200,
            timeout=180,
            what="a chat to work again after the embedded node was killed",
            every=0.5,
        )
        state = httpx.get(backend.url + "/health/ready", timeout=30).json()["checks"]["llm"]["embedded_node"]
        assert state["state"] == "running" and state["restarts"] == 1 and state["last_exit"] == -9, state
        kids = children(backend.pid)
        assert state["pid"] in kids and node_pid not in kids
        assert all(proc_state(k) != "Z" for k in kids), f"zombie children: {kids}"
    finally:
        backend.stop()
