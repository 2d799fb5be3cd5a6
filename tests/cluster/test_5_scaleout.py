"""Scale-out for real: ollama-scaleout.yaml's StatefulSet on two Ollama nodes, found by the
backend's router through the headless Service's records in the cluster DNS; model affinity;
answers while one pod is deleted; a third replica (on a third node) picked up without a restart."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import WORKSTATION
from tests.cluster.helpers import chat
from tests.support.backend import login
from tests.support.processes import wait_until
from tests.support.real_cluster import NODE_1, NS, RealCluster, scaleout_volumes

# A real cluster: its start, image imports and rollouts take minutes on 2 shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
OLLAMA = "harvis-ai-ollama-scaleout"
BACKEND = "harvis-ai-backend-scaleout"
NODES = [NODE_1, "gpu-node-3", "gpu-node-4"]


def discovered(cluster: RealCluster, ui: str) -> set[str]:
    """Ollama nodes the backend's router has found (pod addresses from DNS)."""
    import httpx

    nodes = httpx.get(f"{ui}/health/ready", timeout=30).json()["checks"]["llm"]["nodes"]
    return {n["url"] for n in nodes if n.get("ok")}


def pod_urls(cluster: RealCluster) -> set[str]:
    return {
        f"http://{p['status']['podIP']}:11434"
        for p in cluster.pods(OLLAMA)
        if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])
    }


def test_scale_out_with_dns_discovery(cluster: RealCluster, ui: str) -> None:
    # From the workstation to scale-out: the same claims for the backend, new nodes for Ollama.
    for f in reversed(WORKSTATION):
        cluster.kubectl("delete", "-f", f, "--wait=true", timeout=300)
    cluster.add_node("gpu-node-3", "ollama")
    cluster.kubectl("apply", "-f", "-", stdin=scaleout_volumes(cluster.dir / "volumes", NODES))
    for pv in ("harvis-nfs-ml-models-cache", "harvis-data"):  # Released by the delete: reuse them
        cluster.kubectl("patch", "pv", pv, "-p", '{"spec":{"claimRef":null}}')
    cluster.kubectl("apply", "-f", "k8s-manifests/services/ollama-scaleout.yaml")
    cluster.kubectl("apply", "-f", "k8s-manifests/services/backend-scaleout.yaml")
    # One backend GPU node here: one backend replica (the second would wait for a GPU).
    cluster.kubectl("scale", f"deploy/{BACKEND}", *NS, "--replicas=1")
    cluster.rollout(f"statefulset/{OLLAMA}")
    cluster.rollout(f"deploy/{BACKEND}")
    pods = cluster.pods(OLLAMA)
    assert {p["spec"]["nodeName"] for p in pods} == {NODE_1, "gpu-node-3"}
    # The router found both pods through the cluster DNS (the headless Service's A records).
    wait_until(
        lambda: discovered(cluster, ui) == pod_urls(cluster) and len(pod_urls(cluster)) == 2,
        timeout=120,
        what="the router to discover both Ollama pods",
        every=2,
    )
    logs = cluster.kubectl("logs", *NS, f"deploy/{BACKEND}", "-c", "backend").stdout
    assert logs.count("DNS discovery: new Ollama node") >= 2, logs

    client = login(ui, "alice", timeout=300)
    served = [chat(client, f"Say the number {i}.")[1]["served_by"] for i in range(3)]
    # Affinity: once one pod has the model loaded, the following answers go there too.
    assert len(set(served[1:])) == 1, served

    # Delete the pod that answered: the other keeps answering; the StatefulSet brings it back.
    busy = served[-1].split("@", 1)[1]
    (victim,) = [p for p in cluster.pods(OLLAMA) if f"http://{p['status']['podIP']}:11434" == busy]
    cluster.kubectl("delete", "pod", *NS, victim["metadata"]["name"], "--wait=false")
    for i in range(3):
        text, done = chat(client, f"Say the letter {'abc'[i]}.")
        assert text.strip() and done["status"] == "complete", done
    cluster.rollout(f"statefulset/{OLLAMA}")

    # A third Ollama node and replica: found by the next discovery round, no backend restart.
    (backend,) = cluster.pods(BACKEND)
    cluster.add_node("gpu-node-4", "ollama")
    cluster.kubectl("scale", f"statefulset/{OLLAMA}", *NS, "--replicas=3")
    cluster.rollout(f"statefulset/{OLLAMA}")
    wait_until(
        lambda: len(pod_urls(cluster)) == 3 and discovered(cluster, ui) == pod_urls(cluster),
        timeout=180,
        what="the router to discover the third Ollama pod",
        every=3,
    )
    (same,) = cluster.pods(BACKEND)
    assert same["metadata"]["uid"] == backend["metadata"]["uid"]
    assert same["status"]["containerStatuses"][0]["restartCount"] == 0
