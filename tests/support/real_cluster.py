"""The real cluster of scripts/cluster.sh for tests: real kubelets running the project's own
images in private namespaces. Commands of the deployment guide run as written, with `kubectl`
being `scripts/cluster.sh kubectl` (which only resolves public image references to the images
`make images` built). Every process is stopped by PID (`scripts/cluster.sh down`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import REPO, wait_until

SCRIPT = REPO / "scripts" / "cluster.sh"
RELAY = REPO / "tests" / "support" / "ns_relay.py"
NS = ("-n", "ai-agents")
NODE_1, NODE_2 = "pop-os", "pop-os-343570d8"


def check_ready() -> str:
    """'' when `make cluster` can run here, else what is missing and how to get it."""
    result = subprocess.run(["bash", str(SCRIPT), "check"], capture_output=True, text=True, check=False)
    return "" if result.returncode == 0 else result.stderr.strip()


@dataclass
class RealCluster:
    dir: Path
    transcript: list[tuple[str, str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "HARVIS_CLUSTER_DIR": str(self.dir)}

    def holder(self) -> int:
        return int((self.dir / "pids" / "holder").read_text())

    def node_ip(self, node: str) -> str:
        return (self.dir / "nodes" / node / "ip").read_text().strip()

    def script(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(SCRIPT), *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"cluster.sh {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", str(SCRIPT), "kubectl", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            input=stdin,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def guide(self, line: str, timeout: float = 180, check: bool = True, stderr: bool = True) -> str:
        """One command of the guide, verbatim, with `kubectl` = this cluster's kubectl; its output
        (stdout, then stderr unless told not to) is returned and kept for the README."""
        shell = f'kubectl() {{ bash {SCRIPT} kubectl "$@"; }}\n{line}'
        result = subprocess.run(
            ["bash", "-c", shell],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=REPO,
            timeout=timeout,
            check=False,
        )
        out = result.stdout + result.stderr
        self.transcript.append((line, out))
        if check and result.returncode != 0:
            raise AssertionError(f"`{line}` failed ({result.returncode}):\n{out}")
        return out if stderr else result.stdout

    def inside(self, *cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command in the cluster's LAN namespace (where a machine next to the nodes would be)."""
        return self.script("exec", *cmd, timeout=timeout, check=check)

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def pods(self, app: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get_json("pods", *NS, "-l", f"app={app}")["items"]
        return [p for p in items if not p["metadata"].get("deletionTimestamp")]

    def rollout(self, kind_name: str, timeout: int = 600) -> str:
        return self.kubectl(
            "rollout", "status", kind_name, *NS, f"--timeout={timeout}s", timeout=timeout + 30
        ).stdout

    def wait_gone(self, app: str, timeout: float = 180) -> None:
        wait_until(
            lambda: not self.get_json("pods", *NS, "-l", f"app={app}")["items"],
            timeout=timeout,
            what=f"pods of {app} to be gone",
            every=1.0,
        )

    def add_node(self, name: str, role: str, gpus: int = 1) -> None:
        if not (self.dir / "nodes" / name).exists():
            self.script("add-node", name, role, str(gpus), timeout=900)

    @contextmanager
    def relay(self, target: str) -> Iterator[str]:
        """127.0.0.1:PORT on the host, relayed to TARGET (ip:port) inside the cluster's LAN."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        relay = [sys.executable, str(RELAY), "--fd", str(fd), "--target", target]
        proc = subprocess.Popen(["nsenter", "-t", str(self.holder()), "-n", "--", *relay], pass_fds=(fd,))
        listener.close()
        try:
            yield f"127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def generated_volumes(volume_root: Path) -> str:
    """base/volumes.example.yaml as an admin edits it for this cluster: local paths inside the
    cluster's directory, and a hostPath directory standing in for the NFS export (the kernel
    here has no NFS server or client). Directories are made, the NFS ones owned by the backend's
    uid as an NFS export for it would be."""
    docs = list(yaml.safe_load_all((REPO / "k8s-manifests/base/volumes.example.yaml").read_text()))
    for pv in docs:
        path = volume_root / pv["metadata"]["name"]
        path.mkdir(parents=True, exist_ok=True)
        spec = pv["spec"]
        if "local" in spec:
            spec["local"]["path"] = str(path)
        elif "nfs" in spec:
            del spec["nfs"]
            spec["hostPath"] = {"path": str(path), "type": "Directory"}
            os.chown(path, 10001, 10001)
    return yaml.safe_dump_all(docs)


def scaleout_volumes(volume_root: Path, nodes: list[str]) -> str:
    """One local volume per Ollama node for the StatefulSet's claims, pinned by hostname (as the
    example file says to do for scale-out)."""
    docs = []
    for i, node in enumerate(nodes):
        path = volume_root / f"ollama-scaleout-{node}"
        path.mkdir(parents=True, exist_ok=True)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"harvis-ollama-scaleout-{i}"},
                "spec": {
                    "capacity": {"storage": "200Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "local-storage",
                    "local": {"path": str(path)},
                    "nodeAffinity": {
                        "required": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                                    ]
                                }
                            ]
                        }
                    },
                },
            }
        )
    return yaml.safe_dump_all(docs)


def write_transcript(cluster: RealCluster, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for line, out in cluster.transcript:
            f.write(f"$ {line}\n{out.rstrip()}\n\n")


def now() -> float:
    return time.monotonic()
