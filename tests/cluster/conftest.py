"""One real cluster (scripts/cluster.sh: two kubelets, containerd, CNI, kube-proxy, DNS) for the
whole package, with the storage and Secrets an admin creates once (k8s-manifests/README.md,
step 2). Needs `make images` (which needs `bash scripts/k8s-build.sh node`); `make test-cluster` runs
both. Run without that cache it fails saying what is missing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backend import DEFAULT_PASSWORD
from tests.support.processes import REPO, wait_until
from tests.support.real_cluster import NODE_1, RealCluster, check_ready, generated_volumes, write_transcript

TRANSCRIPT = REPO / "test-artifacts" / "cluster" / "transcript.txt"


def setup_storage_and_secrets(cluster: RealCluster) -> None:
    cluster.kubectl("apply", "-f", "k8s-manifests/base/namespace.yaml")
    cluster.kubectl("apply", "-f", "k8s-manifests/base/storage.yaml")
    cluster.kubectl("apply", "-f", "-", stdin=generated_volumes(cluster.dir / "volumes"))
    # base/secret.example.md, with test values (kept if they exist: a reused cluster).
    for name, *literals in (
        ("harvis-ai-postgres", "POSTGRES_PASSWORD=test-only-pg"),
        (
            "harvis-ai-secrets",
            "HARVIS_SECRET_KEY=test-only-secret-key-0123456789abcdef",
            "DATABASE_URL=postgresql://harvis:test-only-pg@harvis-ai-postgres:5432/harvis",
        ),
    ):
        if cluster.kubectl("get", "secret", name, "-n", "ai-agents", check=False).returncode != 0:
            args = [f"--from-literal={x}" for x in literals]
            cluster.kubectl("create", "secret", "generic", name, "-n", "ai-agents", *args)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealCluster]:
    missing = check_ready()
    if missing:
        raise AssertionError(f"the real cluster cannot start here:\n{missing}")
    # HARVIS_TEST_CLUSTER_DIR: a cluster already up (scripts/cluster.sh up), kept afterwards; for
    # working on these tests without a new cluster each run.
    given = os.environ.get("HARVIS_TEST_CLUSTER_DIR")
    c = RealCluster(Path(given) if given else tmp_path_factory.mktemp("cluster"))
    try:
        if not given:
            c.script("up", timeout=1200)
        setup_storage_and_secrets(c)
        yield c
    finally:
        write_transcript(c, TRANSCRIPT)
        if not given:
            c.script("down", timeout=300, check=False)


WORKSTATION = (
    "k8s-manifests/services/ollama-workstation.yaml",
    "k8s-manifests/services/backend-workstation.yaml",
)


def ensure_workstation(cluster: RealCluster) -> None:
    """The workstation topology deployed and rolled out (as test_guide leaves it)."""
    cluster.kubectl("apply", "-f", "k8s-manifests/base/configmaps.yaml")
    cluster.kubectl("apply", "-f", "k8s-manifests/services/postgres.yaml")
    for f in WORKSTATION:
        cluster.kubectl("apply", "-f", f)
    cluster.rollout("deploy/harvis-ai-ollama-workstation")
    cluster.rollout("deploy/harvis-ai-backend-workstation")
    cluster.rollout("statefulset/harvis-ai-postgres")


def make_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for `host`, made by the test (nothing committed)."""
    import subprocess

    key, crt = directory / "tls.key", directory / "tls.crt"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=DNS:{host}",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, crt


TLS_HOST = "harvis.test"


@pytest.fixture(scope="session")
def frontend(cluster: RealCluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The frontend (nginx) with HTTPS from a TLS Secret, reachable on every node's NodePort."""
    ensure_workstation(cluster)
    key, crt = make_certificate(tmp_path_factory.mktemp("tls"), TLS_HOST)
    cluster.kubectl("delete", "secret", "harvis-ai-frontend-tls", "-n", "ai-agents", "--ignore-not-found")
    cluster.kubectl(
        "create",
        "secret",
        "tls",
        "harvis-ai-frontend-tls",
        "-n",
        "ai-agents",
        f"--cert={crt}",
        f"--key={key}",
    )
    cluster.kubectl("apply", "-f", "k8s-manifests/services/frontend.yaml")
    cluster.kubectl("apply", "-f", "k8s-manifests/services/frontend-nodeport.yaml")
    cluster.rollout("deploy/harvis-ai-frontend")
    return {"key": key, "crt": crt}


@pytest.fixture(scope="session")
def ui(cluster: RealCluster, frontend: dict[str, Path]) -> Iterator[str]:
    """The UI's URL from outside: the host's 127.0.0.1, relayed into the LAN to node 1's NodePort
    (the frontend pods may run on either node). The first account (alice) exists."""
    with cluster.relay(f"{cluster.node_ip(NODE_1)}:30080") as address:
        url = f"http://{address}"
        wait_until(lambda: _answers(url), timeout=120, what="the frontend through the NodePort", every=1)
        r = httpx.post(
            f"{url}/api/auth/signup", json={"username": "alice", "password": DEFAULT_PASSWORD}, timeout=60
        )
        assert r.status_code in (201, 403, 409), r.text
        yield url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False
