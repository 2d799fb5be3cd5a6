"""The manifests on a real API server, scheduler and controller manager (Kubernetes 1.20):
what is accepted, where pods land, why they stay Pending, and that rollouts complete."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.k8s_cluster import Cluster
from tests.support.k8s_kubelet import set_node_gpus, wait_for
from tests.support.k8s_manifests import MANIFESTS, load_file, manifest_files, service_file
from tests.support.processes import HARVIS, REPO

pytestmark = pytest.mark.slow

NS = ["-n", "ai-agents"]
OLLAMA = service_file("ollama-workstation.yaml")
BACKEND = service_file("backend-workstation.yaml")
MERGED = service_file("merged-ollama-backend.yaml")


def pods(cluster: Cluster, app: str) -> list[dict]:
    items: list[dict] = cluster.get_json("pods", *NS, "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def unschedulable_reason(cluster: Cluster, app: str) -> str:
    for pod in pods(cluster, app):
        for cond in pod["status"].get("conditions") or []:
            if cond["type"] == "PodScheduled" and cond["status"] == "False":
                return str(cond.get("message", ""))
    return ""


def rollout(cluster: Cluster, deployment: str) -> str:
    return cluster.kubectl(
        "rollout", "status", f"deploy/{deployment}", *NS, "--timeout=120s", timeout=150
    ).stdout


def doctor(cluster: Cluster) -> dict[str, dict]:
    """`harvis doctor --only kube` against this cluster: check name -> check."""
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    result = subprocess.run(
        [*HARVIS, "doctor", "--only", "kube", "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout)
    assert (result.returncode == 0) == report["ok"], result.stderr
    return {c["name"]: c for c in report["checks"]}


def pending_check(cluster: Cluster, app: str) -> dict:
    (pod,) = [p for p in pods(cluster, app) if not p["spec"].get("nodeName")]
    check = doctor(cluster)[f"pod {pod['metadata']['name']}"]
    assert check["status"] == "fail" and check["detail"].startswith("Pending:"), check
    return check


def reset_volumes(cluster: Cluster) -> None:
    """Deleted claims leave their Retain volumes Released: recreate them as an admin would."""
    cluster.kubectl(
        "delete", "-f", str(MANIFESTS / "base/volumes.example.yaml"), "--wait=true", "--ignore-not-found"
    )
    cluster.kubectl("apply", "-f", str(MANIFESTS / "base/volumes.example.yaml"))


def apps_in(*files: Path) -> list[str]:
    return [
        d.raw["spec"]["template"]["metadata"]["labels"]["app"]
        for f in files
        for d in load_file(f)
        if d.kind in ("Deployment", "StatefulSet")
    ]


@contextmanager
def applied(cluster: Cluster, *files: Path) -> Iterator[None]:
    for f in files:
        cluster.kubectl("apply", "-f", str(f))
    try:
        yield
    finally:
        for f in reversed(files):
            cluster.kubectl("delete", "-f", str(f), "--wait=true", "--timeout=60s", timeout=90)
        for app in apps_in(*files):
            wait_for(
                lambda app=app: not cluster.get_json("pods", *NS, "-l", f"app={app}")["items"],
                f"pods of {app} to be gone",
            )
        if any(d.kind == "PersistentVolumeClaim" for f in files for d in load_file(f)):
            reset_volumes(cluster)


@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: p.name)
def test_a_1_20_server_accepts_every_manifest(cluster: Cluster, path: Path) -> None:
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(path), check=False)
    assert result.returncode == 0, f"{path.name}:\n{result.stderr}"


def test_workstation_puts_ollama_and_backend_on_their_nodes(cluster: Cluster) -> None:
    with applied(cluster, OLLAMA, BACKEND):
        assert "successfully rolled out" in rollout(cluster, "harvis-ai-ollama-workstation")
        assert "successfully rolled out" in rollout(cluster, "harvis-ai-backend-workstation")
        # The seed's check, verbatim.
        wide = cluster.kubectl("get", "pods", *NS, "-o", "wide").stdout
        lines = [line for line in wide.splitlines() if "workstation" in line]
        assert any("harvis-ai-ollama-workstation-" in x and "gpu-node-1" in x for x in lines), wide
        assert any("harvis-ai-backend-workstation-" in x and "gpu-node-2" in x for x in lines), wide
        # The Service the backend calls has the Ollama pod behind it.
        endpoints = wait_for(
            lambda: cluster.get_json("endpoints", "harvis-ai-ollama-workstation", *NS).get("subsets"),
            "Ollama Service endpoints",
        )
        assert endpoints[0]["ports"][0]["port"] == 11434
        claims = cluster.get_json("pvc", *NS)["items"]
        assert {c["metadata"]["name"]: c["status"]["phase"] for c in claims} == {
            "ollama-model-cache": "Bound",
            "nfs-ml-models-cache": "Bound",
            "harvis-ai-data": "Bound",
        }


def test_a_second_gpu_hungry_replica_stays_pending_with_the_reason(cluster: Cluster) -> None:
    with applied(cluster, BACKEND):
        rollout(cluster, "harvis-ai-backend-workstation")
        cluster.kubectl("scale", "deploy/harvis-ai-backend-workstation", *NS, "--replicas=2")
        reason = wait_for(
            lambda: unschedulable_reason(cluster, "harvis-ai-backend-workstation"),
            "the second replica's scheduling failure",
        )
        assert "Insufficient nvidia.com/gpu" in reason
        placed = [p for p in pods(cluster, "harvis-ai-backend-workstation") if p["spec"].get("nodeName")]
        assert len(placed) == 1
        check = pending_check(cluster, "harvis-ai-backend-workstation")
        assert "Insufficient nvidia.com/gpu" in check["detail"] and "replicas at 1" in check["fix"]


def test_a_wrong_node_label_keeps_ollama_pending_until_fixed(cluster: Cluster) -> None:
    cluster.kubectl("label", "node", "gpu-node-1", "harvis.ai/role=olama", "--overwrite")
    try:
        with applied(cluster, OLLAMA):
            reason = wait_for(
                lambda: unschedulable_reason(cluster, "harvis-ai-ollama-workstation"), "a scheduling failure"
            )
            assert "node selector" in reason or "node affinity" in reason, reason
            check = pending_check(cluster, "harvis-ai-ollama-workstation")
            assert "gpu-node-1=olama" in check["fix"]
            assert "kubectl label node <NODE> harvis.ai/role=ollama" in check["fix"]
            # The documented fix: label the node; the scheduler retries by itself.
            cluster.kubectl("label", "node", "gpu-node-1", "harvis.ai/role=ollama", "--overwrite")
            assert "successfully rolled out" in rollout(cluster, "harvis-ai-ollama-workstation")
            assert pods(cluster, "harvis-ai-ollama-workstation")[0]["spec"]["nodeName"] == "gpu-node-1"
    finally:
        cluster.kubectl("label", "node", "gpu-node-1", "harvis.ai/role=ollama", "--overwrite")


def test_edge_puts_one_pod_on_the_edge_box_and_needs_time_slicing(cluster: Cluster) -> None:
    with applied(cluster, MERGED):
        assert "successfully rolled out" in rollout(cluster, "harvis-ai-merged-ollama-backend")
        (pod,) = pods(cluster, "harvis-ai-merged-ollama-backend")
        assert pod["spec"]["nodeName"] == "edge-box"
        assert [c["name"] for c in pod["spec"]["containers"]] == ["ollama", "backend"]
    # Without the device plugin's time-slicing the box reports one GPU: the pod cannot fit.
    set_node_gpus(cluster, "edge-box", 1)
    try:
        with applied(cluster, MERGED):
            reason = wait_for(
                lambda: unschedulable_reason(cluster, "harvis-ai-merged-ollama-backend"),
                "a scheduling failure",
            )
            assert "Insufficient nvidia.com/gpu" in reason
    finally:
        set_node_gpus(cluster, "edge-box", 2)


def test_a_volume_pinned_to_another_node_is_reported(cluster: Cluster) -> None:
    # The seed's classic: a local volume created for one machine's hostname, the pod pinned to another.
    pv = """
apiVersion: v1
kind: PersistentVolume
metadata: {name: edge-cache-on-wrong-node}
spec:
  capacity: {storage: "200Gi"}
  accessModes: ["ReadWriteOnce"]
  storageClassName: local-storage
  claimRef: {namespace: ai-agents, name: edge-model-cache}
  local: {path: /var/lib/harvis/edge}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/hostname, operator: In, values: ["gpu-node-1"]}
"""
    cluster.kubectl("delete", "pv", "harvis-edge-model-cache")
    cluster.kubectl("apply", "-f", "-", stdin=pv)
    try:
        with applied(cluster, MERGED):
            reason = wait_for(
                lambda: unschedulable_reason(cluster, "harvis-ai-merged-ollama-backend"),
                "a scheduling failure",
            )
            assert "volume node affinity conflict" in reason, reason
            check = pending_check(cluster, "harvis-ai-merged-ollama-backend")
            assert "edge-cache-on-wrong-node" in check["fix"] and "gpu-node-1" in check["fix"]
            # The pod's own role exists (edge-box): doctor must not tell the user to label a node.
            assert "no node carries" not in check["fix"]
    finally:
        cluster.kubectl("delete", "pv", "edge-cache-on-wrong-node", "--ignore-not-found")
        reset_volumes(cluster)


def test_switching_edge_and_workstation_with_the_seed_commands(cluster: Cluster) -> None:
    def run(line: str) -> None:
        cluster.kubectl(*line.split()[1:], timeout=120)

    run(f"kubectl apply -f {MERGED}")
    rollout(cluster, "harvis-ai-merged-ollama-backend")
    # Use Workstation Setup, verbatim from the seed.
    run(f"kubectl delete -f {MERGED}")
    run(f"kubectl apply -f {OLLAMA}")
    run(f"kubectl apply -f {BACKEND}")
    with applied(cluster, OLLAMA, BACKEND):
        rollout(cluster, "harvis-ai-ollama-workstation")
        rollout(cluster, "harvis-ai-backend-workstation")
        # The frontend's Service follows whichever backend runs.
        with applied(cluster, service_file("frontend.yaml")):
            subsets = wait_for(
                lambda: cluster.get_json("endpoints", "harvis-ai-backend", *NS).get("subsets"),
                "backend Service endpoints",
            )
            (backend,) = pods(cluster, "harvis-ai-backend-workstation")
            assert [a["ip"] for a in subsets[0]["addresses"]] == [backend["status"]["podIP"]]


def test_doctor_reports_a_healthy_workstation_and_its_endpoints(cluster: Cluster) -> None:
    with applied(cluster, OLLAMA, BACKEND):
        rollout(cluster, "harvis-ai-ollama-workstation")
        rollout(cluster, "harvis-ai-backend-workstation")
        checks = doctor(cluster)
        assert checks["pods"]["status"] == "ok"
        assert "on gpu-node-1 (harvis.ai/role=ollama)" in checks["pods"]["detail"]
        assert "on gpu-node-2 (harvis.ai/role=backend)" in checks["pods"]["detail"]
        assert checks["endpoints harvis-ai-ollama-workstation"]["status"] == "ok"
        # No kubelet serves logs here: reported, not fatal.
        assert checks["logs harvis-ai-backend-workstation"]["status"] == "warn"
        assert not [n for n, c in checks.items() if c["status"] == "fail"]


def test_switching_back_reuses_the_retained_model_volume(cluster: Cluster) -> None:
    # Workstation -> edge -> workstation: `kubectl delete -f` deleted the claim, its volume is
    # Released (Retain keeps the models) and must be made available again, as README and doctor say.
    cluster.kubectl("apply", "-f", str(OLLAMA))
    rollout(cluster, "harvis-ai-ollama-workstation")
    cluster.kubectl("delete", "-f", str(OLLAMA), "--wait=true", timeout=90)
    wait_for(
        lambda: cluster.get_json("pv", "harvis-ollama-model-cache")["status"].get("phase") == "Released",
        "the volume to be Released",
    )
    with applied(cluster, OLLAMA):
        reason = wait_for(
            lambda: unschedulable_reason(cluster, "harvis-ai-ollama-workstation"), "a scheduling failure"
        )
        assert "persistent volumes to bind" in reason, reason
        check = pending_check(cluster, "harvis-ai-ollama-workstation")
        patch = 'kubectl patch pv harvis-ollama-model-cache -p \'{"spec":{"claimRef":null}}\''
        assert patch in check["fix"]
        readme = (MANIFESTS / "README.md").read_text()
        assert patch in readme, "the README documents the same command"
        cluster.kubectl("patch", "pv", "harvis-ollama-model-cache", "-p", '{"spec":{"claimRef":null}}')
        assert "successfully rolled out" in rollout(cluster, "harvis-ai-ollama-workstation")
