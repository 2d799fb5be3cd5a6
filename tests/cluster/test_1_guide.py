"""The deployment guide's commands, verbatim, on a real two-node cluster running the project's
own images: Deploy, Verify, Troubleshooting and Switching between edge and workstation.

`kubectl` is scripts/cluster.sh's (public image references resolved to the locally built
images, nothing else). Ollama is the CPU stand-in image (deploy/standin/README.md): its
`ollama pull llama3.2:3b` serves that name with the bundled smollm2:135m weights.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.support.processes import REPO, wait_until
from tests.support.real_cluster import NODE_1, NODE_2, NS, RealCluster

# A real cluster: its start, image imports and rollouts take minutes on 2 shared cores.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

README = (REPO / "k8s-manifests" / "README.md").read_text()
DEPLOY = [
    "kubectl apply -f k8s-manifests/base/configmaps.yaml",
    "kubectl apply -f k8s-manifests/services/ollama-workstation.yaml",
    "kubectl apply -f k8s-manifests/services/backend-workstation.yaml",
]
PODS = "kubectl get pods -n ai-agents -o wide | grep workstation"
TAGS = (
    "kubectl exec -n ai-agents deploy/harvis-ai-backend-workstation -- \\\n"
    "  curl -s http://harvis-ai-ollama-workstation:11434/api/tags"
)
LOGS = "kubectl logs -n ai-agents deploy/harvis-ai-backend-workstation | grep -i ollama"
DESCRIBE = "kubectl describe pod <pod-name> -n ai-agents"
LABELS = "kubectl get nodes --show-labels | grep kubernetes.io/hostname"
CURL_V = (
    "kubectl exec -n ai-agents deploy/harvis-ai-backend-workstation -- \\\n"
    "  curl -v http://harvis-ai-ollama-workstation:11434/api/tags"
)
ENDPOINTS = "kubectl get endpoints harvis-ai-ollama-workstation -n ai-agents"
TO_EDGE = [
    "kubectl delete -f k8s-manifests/services/ollama-workstation.yaml",
    "kubectl delete -f k8s-manifests/services/backend-workstation.yaml",
    "kubectl apply -f k8s-manifests/services/merged-ollama-backend.yaml",
]
TO_WORKSTATION = [
    "kubectl delete -f k8s-manifests/services/merged-ollama-backend.yaml",
    "kubectl apply -f k8s-manifests/services/ollama-workstation.yaml",
    "kubectl apply -f k8s-manifests/services/backend-workstation.yaml",
]
OLLAMA_URL = "http://harvis-ai-ollama-workstation:11434"


def test_the_readme_carries_the_guide_commands_verbatim() -> None:
    for line in [
        *DEPLOY,
        PODS,
        TAGS,
        LOGS,
        LABELS.split(" |")[0],
        CURL_V,
        ENDPOINTS,
        *TO_EDGE,
        *TO_WORKSTATION,
    ]:
        assert line in README, line


def doctor_kube(cluster: RealCluster) -> dict[str, dict]:
    """`harvis doctor --only kube` from outside the cluster, with this cluster's kubeconfig."""
    result = cluster.inside(
        sys.executable, "-m", "harvis.cli", "doctor", "--only", "kube", "--json", check=False
    )
    report = json.loads(result.stdout)
    return {c["name"]: c for c in report["checks"]}


def reuse_released_volumes(cluster: RealCluster) -> list[str]:
    """After `kubectl delete -f`, the Retain volumes are Released: run the fix doctor prints."""
    fixes: list[str] = []
    for check in doctor_kube(cluster).values():
        fixes += re.findall(
            r"kubectl patch pv \S+ -p '\{\"spec\":\{\"claimRef\":null\}\}'", check.get("fix") or ""
        )
    for fix in dict.fromkeys(fixes):
        cluster.guide(fix)
    return fixes


def test_deploy_workstation(cluster: RealCluster) -> None:
    # Postgres first: the Secret's DATABASE_URL points at it (README step 3, "plus the database").
    cluster.guide("kubectl apply -f k8s-manifests/services/postgres.yaml")
    for line in DEPLOY:
        out = cluster.guide(line)
        assert "created" in out or "configured" in out or "unchanged" in out, out
    assert "successfully rolled out" in cluster.rollout("deploy/harvis-ai-ollama-workstation")
    assert "successfully rolled out" in cluster.rollout("deploy/harvis-ai-backend-workstation")
    cluster.rollout("statefulset/harvis-ai-postgres")


def test_verify_pods_are_on_their_nodes(cluster: RealCluster) -> None:
    out = cluster.guide(PODS)
    lines = out.splitlines()
    # The guide's "Expected:" lines: Ollama on pop-os (node 1), the backend on pop-os-343570d8.
    assert any(x.startswith("harvis-ai-ollama-workstation-") and f" {NODE_1} " in x for x in lines), out
    assert any(x.startswith("harvis-ai-backend-workstation-") and f" {NODE_2} " in x for x in lines), out
    assert all(" Running " in x for x in lines), out


def test_verify_ollama_answers_the_backend_pod(cluster: RealCluster) -> None:
    out = cluster.guide(TAGS, stderr=False)
    names = {m["name"] for m in json.loads(out)["models"]}
    # OLLAMA_PULL_MODELS=llama3.2:3b, pulled by the init container into the model volume.
    assert "llama3.2:3b" in names, names


def test_verify_the_backend_logs_which_ollama_it_uses(cluster: RealCluster) -> None:
    out = cluster.guide(LOGS)
    assert f"Ollama at {OLLAMA_URL} answered in" in out, out
    assert "llama3.2:3b" in out


def test_troubleshooting_commands(cluster: RealCluster) -> None:
    (pod,) = cluster.pods("harvis-ai-backend-workstation")
    name = pod["metadata"]["name"]
    described = cluster.guide(DESCRIBE.replace("<pod-name>", name))
    assert f"Node:         {NODE_2}/" in described and "Successfully assigned" in described, described
    labels = cluster.guide(LABELS)
    assert f"kubernetes.io/hostname={NODE_1}" in labels and "harvis.ai/role=ollama" in labels, labels
    verbose = cluster.guide(CURL_V)
    assert "< HTTP/1.1 200 OK" in verbose and '"models"' in verbose, verbose
    endpoints = cluster.guide(ENDPOINTS)
    (ollama,) = cluster.pods("harvis-ai-ollama-workstation")
    assert f"{ollama['status']['podIP']}:11434" in endpoints, endpoints


def test_speech_models_load_from_the_model_cache_volume(cluster: RealCluster) -> None:
    fetched = cluster.kubectl(
        "logs", *NS, "deploy/harvis-ai-backend-workstation", "-c", "fetch-models"
    ).stdout
    assert "whisper-tiny.en:" in fetched and "-> /models/whisper-tiny.en" in fetched, fetched
    logs = cluster.kubectl("logs", *NS, "deploy/harvis-ai-backend-workstation", "-c", "backend").stdout
    assert "speech model whisper-tiny.en ready" in logs and "from /models/whisper-tiny.en/model" in logs, logs
    assert "from /models/piper-joe/en_US-joe-medium.onnx" in logs, logs
    verify = cluster.kubectl(
        "exec", *NS, "deploy/harvis-ai-backend-workstation", "--", "harvis", "models", "verify", "--speed"
    ).stdout
    assert "ok  whisper-tiny.en" in verify and "ok  piper-joe" in verify and "read speed:" in verify, verify


def test_switching_to_edge_and_back(cluster: RealCluster) -> None:
    cluster.add_node("edge-box", "edge", gpus=2)  # the edge box: one GPU, time-sliced in two
    for line in TO_EDGE:
        cluster.guide(line)
    assert "successfully rolled out" in cluster.rollout("deploy/harvis-ai-merged-ollama-backend")
    (pod,) = cluster.pods("harvis-ai-merged-ollama-backend")
    assert pod["spec"]["nodeName"] == "edge-box"
    logs = cluster.kubectl("logs", *NS, "deploy/harvis-ai-merged-ollama-backend", "-c", "backend").stdout
    assert "Ollama at http://localhost:11434 answered in" in logs, logs
    for line in TO_WORKSTATION:
        cluster.guide(line)
    # The claims were deleted with the files; their Retain volumes are Released. doctor names the
    # README's fix, and running it lets the new claims bind.
    wait_until(
        lambda: any(c.get("fix") and "claimRef" in c["fix"] for c in doctor_kube(cluster).values()),
        timeout=120,
        what="doctor to name the Released volumes",
        every=3,
    )
    assert reuse_released_volumes(cluster)
    assert "successfully rolled out" in cluster.rollout("deploy/harvis-ai-ollama-workstation")
    assert "successfully rolled out" in cluster.rollout("deploy/harvis-ai-backend-workstation")
    out = cluster.guide(PODS)
    assert f" {NODE_2} " in out and f" {NODE_1} " in out, out


def test_nothing_was_left_pending(cluster: RealCluster) -> None:
    pending = [
        p["metadata"]["name"]
        for p in cluster.get_json("pods", *NS)["items"]
        if p["status"]["phase"] == "Pending"
    ]
    assert not pending, subprocess.list2cmdline(pending)
