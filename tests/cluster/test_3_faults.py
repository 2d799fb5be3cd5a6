"""Faults on the real cluster: the Ollama pod deleted (degraded, clear 503s, recovery by itself),
and pods that cannot be scheduled (the scheduler's reason, and `harvis doctor` naming the fix)."""

from __future__ import annotations

import json
import sys

import httpx
import pytest

from tests.cluster.helpers import chat
from tests.support.backend import login
from tests.support.processes import wait_until
from tests.support.real_cluster import NODE_1, NS, RealCluster

# A real cluster: its start, image imports and rollouts take minutes on 2 shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
OLLAMA = "harvis-ai-ollama-workstation"
BACKEND = "harvis-ai-backend-workstation"


def completion(client: httpx.Client) -> httpx.Response:
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    return client.post("/v1/chat/completions", json=body, timeout=120)


def doctor(cluster: RealCluster) -> dict[str, dict]:
    result = cluster.inside(
        sys.executable, "-m", "harvis.cli", "doctor", "--only", "kube", "--json", check=False
    )
    return {c["name"]: c for c in json.loads(result.stdout)["checks"]}


def pending_check(cluster: RealCluster, app: str) -> dict:
    def found() -> dict | None:
        pending = [p for p in cluster.pods(app) if not p["spec"].get("nodeName")]
        if not pending:
            return None
        check = doctor(cluster).get(f"pod {pending[0]['metadata']['name']}")
        return check if check and check["detail"].startswith("Pending:") else None

    return wait_until(found, timeout=120, what=f"doctor to report a Pending {app} pod", every=2)


def test_ollama_pod_deleted_degrades_with_clear_503_and_recovers(cluster: RealCluster, ui: str) -> None:
    client = login(ui, "alice", timeout=300)
    assert completion(client).status_code == 200
    (pod,) = cluster.pods(OLLAMA)
    cluster.kubectl("delete", "pod", *NS, pod["metadata"]["name"], "--wait=false")

    def refused() -> httpx.Response | None:
        r = completion(client)
        return r if r.status_code == 503 else None

    r = wait_until(refused, timeout=120, what="a 503 while Ollama is gone", every=0.5)
    error = r.json()["error"]
    assert error["code"] and error["message"], error  # says what is down; never a hang or a 502
    ready = httpx.get(f"{ui}/health/ready", timeout=30)
    assert ready.status_code == 503 and ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["llm"]["ok"] is False
    # The backend pod stays in its Service (readiness is /health/live), so nginx passes the 503 on.
    assert cluster.pods(BACKEND)[0]["status"]["containerStatuses"][0]["ready"] is True
    cluster.rollout(f"deploy/{OLLAMA}")
    wait_until(lambda: completion(client).status_code == 200, timeout=180, what="chat answers again", every=2)
    text, done = chat(client, "Say yes.")
    assert text.strip() and done["status"] == "complete"
    assert httpx.get(f"{ui}/health/ready", timeout=30).status_code == 200


def test_a_wrong_node_label_is_explained_and_fixed(cluster: RealCluster) -> None:
    cluster.kubectl("label", "node", NODE_1, "harvis.ai/role=olama", "--overwrite")
    try:
        (pod,) = cluster.pods(OLLAMA)
        cluster.kubectl("delete", "pod", *NS, pod["metadata"]["name"], "--wait=true", timeout=180)
        check = pending_check(cluster, OLLAMA)
        assert "didn't match node selector" in check["detail"] or "node affinity" in check["detail"], check
        assert f"{NODE_1}=olama" in check["fix"], check
        assert "kubectl label node <NODE> harvis.ai/role=ollama" in check["fix"], check
        (pending,) = [p for p in cluster.pods(OLLAMA) if not p["spec"].get("nodeName")]
        described = cluster.guide(f"kubectl describe pod {pending['metadata']['name']} -n ai-agents")
        # 1.20's scheduler words a nodeSelector miss as "didn't match Pod's node affinity".
        assert "FailedScheduling" in described and "didn't match" in described, described
    finally:
        # The fix doctor names; the scheduler places the pod by itself.
        cluster.guide(f"kubectl label node {NODE_1} harvis.ai/role=ollama --overwrite")
    cluster.rollout(f"deploy/{OLLAMA}")
    assert cluster.pods(OLLAMA)[0]["spec"]["nodeName"] == NODE_1


def test_an_over_committed_gpu_is_explained(cluster: RealCluster) -> None:
    cluster.kubectl("scale", f"deploy/{BACKEND}", *NS, "--replicas=2")
    try:
        check = pending_check(cluster, BACKEND)
        assert "Insufficient nvidia.com/gpu" in check["detail"], check
        assert "replicas at 1" in check["fix"], check
    finally:
        cluster.kubectl("scale", f"deploy/{BACKEND}", *NS, "--replicas=1")
    wait_until(lambda: len(cluster.pods(BACKEND)) == 1, timeout=120, what="one backend pod again", every=1)
