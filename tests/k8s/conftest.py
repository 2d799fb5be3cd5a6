"""One real control plane (etcd + kube-apiserver/scheduler/controller-manager 1.20) per module,
with fake GPU nodes labelled by role and a kubelet stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.k8s_cluster import Cluster, control_plane
from tests.support.k8s_kubelet import add_node, kubelet_stand_in
from tests.support.k8s_manifests import MANIFESTS

# name -> (role label, advertised nvidia.com/gpu). The edge box's one GPU is time-sliced in two.
NODES = {
    "gpu-node-1": ("ollama", 1),
    "gpu-node-2": ("backend", 1),
    "edge-box": ("edge", 2),
}


def apply_base(cluster: Cluster) -> None:
    for rel in ("base/configmaps.yaml", "base/storage.yaml", "base/volumes.example.yaml"):
        cluster.kubectl("apply", "-f", str(MANIFESTS / rel))
    # The documented way to create the Secrets (base/secret.example.md), with test values.
    for args in (
        ["harvis-ai-postgres", "--from-literal=POSTGRES_PASSWORD=test-only"],
        [
            "harvis-ai-secrets",
            "--from-literal=HARVIS_SECRET_KEY=test-only",
            "--from-literal=DATABASE_URL=postgresql://harvis:test-only@harvis-ai-postgres:5432/harvis",
        ],
    ):
        cluster.kubectl("create", "secret", "generic", "-n", "ai-agents", *args)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("k8s")
    with control_plane(workdir) as c, kubelet_stand_in(c) as kubelet:
        for name, (role, gpus) in NODES.items():
            add_node(c, name, {"harvis.ai/role": role}, gpus)
        apply_base(c)
        yield c
        assert not kubelet.errors[-5:], f"kubelet stand-in errors: {kubelet.errors[-5:]}"
