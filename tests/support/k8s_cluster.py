"""A real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver, kube-scheduler
and kube-controller-manager (1.20, built by scripts/k8s-build.sh), plus `kubectl` wrappers.

No kubelet runs: tests create fake Node objects and tests/support/k8s_kubelet.py marks bound
pods Running. Every process is stopped by its PID.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import free_port, stop_pid

BIN_DIR = Path(os.environ.get("HARVIS_K8S_BIN", Path.home() / ".cache" / "harvis" / "k8s-bin"))
BINARIES = ("kube-apiserver", "kube-scheduler", "kube-controller-manager")
TOKEN = "harvis-test-admin-token"
BUILD_HINT = "run `bash scripts/k8s-build.sh` (make setup-test does) to build them"


def missing_tools() -> list[str]:
    missing = [str(BIN_DIR / b) for b in BINARIES if not (BIN_DIR / b).is_file()]
    missing += [t for t in ("etcd", "kubectl", "openssl") if shutil.which(t) is None]
    return missing


@dataclass
class Cluster:
    server: str
    kubeconfig: Path
    workdir: Path
    logs: dict[str, Path]

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.server, verify=False, timeout=10.0, headers={"Authorization": f"Bearer {TOKEN}"}
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        return self.logs[name].read_text(errors="replace")[-chars:]


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def _wait(
    check: Any, what: str, procs: dict[str, subprocess.Popen[bytes]], logs: dict[str, Path], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, p in procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{logs[name].read_text()[-3000:]}")
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready within {timeout}s")


def _write_kubeconfig(path: Path, server: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "harvis-test",
        "clusters": [
            {"name": "harvis-test", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "admin", "user": {"token": TOKEN}}],
        "contexts": [{"name": "harvis-test", "context": {"cluster": "harvis-test", "user": "admin"}}],
    }
    path.write_text(json.dumps(config))


@contextmanager
def control_plane(workdir: Path, timeout: float = 120.0) -> Iterator[Cluster]:
    missing = missing_tools()
    if missing:
        raise AssertionError(f"the Kubernetes test control plane needs: {', '.join(missing)}; {BUILD_HINT}")
    workdir.mkdir(parents=True, exist_ok=True)
    key, pub = workdir / "sa.key", workdir / "sa.pub"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True
    )
    (workdir / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    server = f"https://127.0.0.1:{api_port}"
    kubeconfig = workdir / "kubeconfig"
    _write_kubeconfig(kubeconfig, server)
    logs = {n: workdir / f"{n}.log" for n in ("etcd", *BINARIES)}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    with ExitStack() as stack:

        def stop_all() -> None:
            for p in reversed(list(procs.values())):
                stop_pid(p)

        stack.callback(stop_all)
        procs["etcd"] = _start(
            [
                "etcd",
                "--data-dir",
                str(workdir / "etcd"),
                "--name",
                "harvis-test",
                "--listen-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--advertise-client-urls",
                f"http://127.0.0.1:{etcd_port}",
                "--listen-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{peer_port}",
                "--initial-cluster",
                f"harvis-test=http://127.0.0.1:{peer_port}",
                "--quota-backend-bytes",
                str(256 * 1024 * 1024),
            ],
            logs["etcd"],
        )
        procs["kube-apiserver"] = _start(
            [
                str(BIN_DIR / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={workdir / 'certs'}",
                f"--token-auth-file={workdir / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-account-key-file={pub}",
                f"--service-account-signing-key-file={key}",
                # Pods here never run, so they need no service account token mounted.
                "--disable-admission-plugins=ServiceAccount",
                "--logtostderr=true",
                "--v=1",
            ],
            logs["kube-apiserver"],
        )

        def api_ready() -> bool:
            try:
                r = httpx.get(
                    f"{server}/readyz",
                    verify=False,
                    timeout=2.0,
                    headers={"Authorization": f"Bearer {TOKEN}"},
                )
                return r.status_code == 200
            except httpx.HTTPError:
                return False

        _wait(api_ready, "kube-apiserver", procs, logs, timeout)
        common = [
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
            "--logtostderr=true",
            "--v=1",
        ]
        procs["kube-scheduler"] = _start([str(BIN_DIR / "kube-scheduler"), *common], logs["kube-scheduler"])
        procs["kube-controller-manager"] = _start(
            [
                str(BIN_DIR / "kube-controller-manager"),
                *common,
                "--controllers=*,-nodelifecycle",
                f"--service-account-private-key-file={key}",
                "--concurrent-deployment-syncs=2",
                "--concurrent-replicaset-syncs=2",
            ],
            logs["kube-controller-manager"],
        )
        cluster = Cluster(server=server, kubeconfig=kubeconfig, workdir=workdir, logs=logs)
        yield cluster
