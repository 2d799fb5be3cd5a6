"""Fake nodes and a kubelet stand-in for the test control plane.

The stand-in does the two things a kubelet does that the control plane waits for: it marks
pods that the scheduler bound to a node as Running and Ready (with a pod IP, so Service
endpoints fill in), and it finishes deletions. Nothing is actually run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.support.k8s_cluster import Cluster
from tests.support.processes import wait_until

MERGE = {"Content-Type": "application/merge-patch+json"}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_node(cluster: Cluster, name: str, labels: dict[str, str], gpus: int = 1) -> None:
    """A schedulable Node with `gpus` nvidia.com/gpu, as the NVIDIA device plugin would report."""
    capacity = {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": str(gpus)}
    with cluster.api() as api:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **labels}},
        }
        api.post("/api/v1/nodes", json=body).raise_for_status()
        # The admission chain taints new nodes not-ready; a kubelet would clear it once ready.
        api.patch(f"/api/v1/nodes/{name}", json={"spec": {"taints": None}}, headers=MERGE).raise_for_status()
        status = {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "addresses": [{"type": "Hostname", "address": name}],
            }
        }
        api.patch(f"/api/v1/nodes/{name}/status", json=status, headers=MERGE).raise_for_status()


def set_node_gpus(cluster: Cluster, name: str, gpus: int) -> None:
    with cluster.api() as api:
        node = api.get(f"/api/v1/nodes/{name}").json()
        capacity = {**node["status"]["capacity"], "nvidia.com/gpu": str(gpus)}
        body = {"status": {"capacity": capacity, "allocatable": capacity}}
        api.patch(f"/api/v1/nodes/{name}/status", json=body, headers=MERGE).raise_for_status()


class KubeletStandIn:
    def __init__(self, cluster: Cluster, interval_s: float = 0.3) -> None:
        self.cluster = cluster
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kubelet-stand-in", daemon=True)
        self._ips = 0
        self.errors: list[str] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        with self.cluster.api() as api:
            while not self._stop.is_set():
                try:
                    for pod in api.get("/api/v1/pods").json().get("items", []):
                        self._handle(api, pod)
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self._stop.wait(self.interval_s)

    def _handle(self, api: httpx.Client, pod: dict[str, Any]) -> None:
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        if meta.get("deletionTimestamp"):
            api.request("DELETE", path, json={"gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}})
        elif spec.get("nodeName") and status.get("phase") != "Running":
            self._ips += 1
            api.patch(f"{path}/status", json=self._running(spec), headers=MERGE)

    def _running(self, spec: dict[str, Any]) -> dict[str, Any]:
        now = _now()
        ready = [
            {"type": t, "status": "True", "lastTransitionTime": now}
            for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
        ]
        return {
            "status": {
                "phase": "Running",
                "hostIP": "10.0.0.1",
                "startTime": now,
                "podIP": f"10.244.{self._ips // 250}.{self._ips % 250 + 1}",
                "conditions": ready,
                "containerStatuses": [
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": True,
                        "started": True,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": now}},
                    }
                    for c in spec["containers"]
                ],
            }
        }


@contextmanager
def kubelet_stand_in(cluster: Cluster) -> Iterator[KubeletStandIn]:
    kubelet = KubeletStandIn(cluster)
    kubelet.start()
    try:
        yield kubelet
    finally:
        kubelet.stop()


def wait_for(check: Any, what: str, timeout: float = 60.0, interval: float = 0.3) -> Any:
    """Poll `check()` until it returns something truthy; fail with `what` after `timeout`."""
    return wait_until(check, timeout=timeout, what=what, every=interval)
