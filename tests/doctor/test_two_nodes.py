"""Two "nodes" on one machine: `harvis llm-node` on 127.0.0.11 and `harvis serve` on 127.0.0.12,
OLLAMA_URL pointing across through the tests' fault-injecting proxy (the link).
`harvis doctor` is green; cutting the link makes doctor and /health/ready say so; restoring it
recovers without restarting anything."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import iter_events, signup_and_login, start_backend
from tests.support.k8s_kubelet import wait_for
from tests.support.llm_node import SMALL_MODEL, start_llm_node
from tests.support.processes import HARVIS, REPO, Proc
from tests.support.tcp_proxy import TcpProxy, tcp_proxy

pytestmark = pytest.mark.slow

LLM_HOST, BACKEND_HOST = "127.0.0.11", "127.0.0.12"


@dataclass
class TwoNodes:
    node: Proc
    proxy: TcpProxy
    backend: Proc
    data_dir: Path


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoNodes]:
    data_dir = tmp_path_factory.mktemp("two-nodes")
    node = start_llm_node(host=LLM_HOST, threads=1, log_path=data_dir / "llm-node.log")
    try:
        port = int(node.url.rsplit(":", 1)[1])
        with tcp_proxy(BACKEND_HOST, (LLM_HOST, port)) as proxy:
            backend = start_backend(data_dir, host=BACKEND_HOST, env={"OLLAMA_URL": proxy.url})
            try:
                yield TwoNodes(node, proxy, backend, data_dir)
            finally:
                backend.stop()
    finally:
        node.stop()


def doctor(nodes: TwoNodes) -> tuple[int, dict[str, dict[str, Any]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVIS_", "DATABASE_URL", "OLLAMA_URL"))}
    env.update(
        {
            "OLLAMA_URL": nodes.proxy.url,
            "HARVIS_LLM__DEFAULT_MODEL": SMALL_MODEL,  # what the test node serves
            "HARVIS_DATA_DIR": str(nodes.data_dir),
            "KUBECONFIG": str(nodes.data_dir / "no-such-kubeconfig"),  # a laptop: no cluster
        }
    )
    args = [*HARVIS, "doctor", "--json", "--backend-url", nodes.backend.url, "--timeout", "3"]
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    assert result.stdout, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] == (result.returncode == 0)
    return result.returncode, {c["name"]: c for c in report["checks"]}


def ready(nodes: TwoNodes) -> httpx.Response:
    return httpx.get(nodes.backend.url + "/health/ready", timeout=15)


def test_doctor_is_green_across_the_link(two_nodes: TwoNodes) -> None:
    rc, checks = doctor(two_nodes)
    failing = {n: c["detail"] for n, c in checks.items() if c["status"] == "fail"}
    assert rc == 0 and not failing, failing
    url = two_nodes.proxy.url
    assert checks[f"ollama {url}"]["status"] == "ok"
    assert SMALL_MODEL in checks[f"ollama {url}"]["data"]["models"]
    assert checks[f"models {url}"]["status"] == "ok"
    assert checks["backend"]["status"] == "ok" and checks["backend llm"]["status"] == "ok"
    assert checks["database"]["status"] == "ok"
    assert checks["kubernetes"]["status"] == "skip"
    assert two_nodes.proxy.stats.bytes_down > 0, "doctor and the backend must talk through the link"


def test_cut_link_is_reported_and_recovers_without_restarts(two_nodes: TwoNodes) -> None:
    pids = (two_nodes.node.pid, two_nodes.backend.pid)
    assert ready(two_nodes).status_code == 200
    two_nodes.proxy.cut()
    try:
        down = wait_for(
            lambda: (r := ready(two_nodes)).status_code == 503 and r, "/health/ready to fail", timeout=60
        )
        llm = down.json()["checks"]["llm"]
        assert llm["ok"] is False
        rc, checks = doctor(two_nodes)
        assert rc == 1
        url = two_nodes.proxy.url
        assert checks[f"ollama {url}"]["status"] == "fail"
        assert "unreachable" in checks[f"ollama {url}"]["detail"]
        assert checks[f"ollama {url}"]["fix"]
        assert checks["backend llm"]["status"] == "fail" and checks["backend llm"]["fix"]
        assert checks["backend"]["status"] == "fail"
        # The backend itself is alive: only the LLM part is down.
        assert httpx.get(two_nodes.backend.url + "/health/live", timeout=10).status_code == 200
    finally:
        two_nodes.proxy.restore()
    wait_for(lambda: ready(two_nodes).status_code == 200, "/health/ready to recover", timeout=120, interval=1)
    rc, checks = doctor(two_nodes)
    assert rc == 0, {n: c["detail"] for n, c in checks.items() if c["status"] == "fail"}
    # Same processes, never restarted, and a real answer streams across the restored link.
    assert (two_nodes.node.pid, two_nodes.backend.pid) == pids
    assert two_nodes.node.popen.poll() is None and two_nodes.backend.popen.poll() is None
    client = signup_and_login(two_nodes.backend.url, "doctor-user")
    with client.stream("POST", "/api/chat", json={"message": "Say hello.", "model": SMALL_MODEL}) as r:
        assert r.status_code == 200
        events = [name for name, _ in iter_events(r)]
    assert "token" in events and events[-1] == "done", events
