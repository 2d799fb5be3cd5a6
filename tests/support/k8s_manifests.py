"""Load the Kubernetes manifests of k8s-manifests/ for tests: raw dicts and lightkube objects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube.codecs import from_dict

from tests.support.processes import REPO

MANIFESTS = REPO / "k8s-manifests"
# Kubernetes objects (gpu/ holds the NVIDIA device plugin's own config format).
OBJECT_DIRS = ("base", "services")
NAMESPACE = "ai-agents"


@dataclass(frozen=True)
class Doc:
    path: Path
    index: int
    raw: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.raw["kind"])

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}#{self.index} {self.kind}/{self.name}"

    def obj(self) -> Any:
        return from_dict(self.raw)


def manifest_files() -> list[Path]:
    files = sorted(p for d in OBJECT_DIRS for p in (MANIFESTS / d).glob("*.yaml"))
    if not files:
        raise AssertionError(f"no manifests found under {MANIFESTS}")
    return files


def load_file(path: Path) -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return [Doc(path, i, d) for i, d in enumerate(docs)]


def all_docs() -> list[Doc]:
    return [doc for path in manifest_files() for doc in load_file(path)]


def service_file(name: str) -> Path:
    return MANIFESTS / "services" / name


def pod_spec(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a workload object, else None."""
    if raw["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return dict(raw["spec"]["template"]["spec"])
    return None


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers") or []
    yield from spec.get("containers") or []


def gpu_count(container: dict[str, Any], section: str = "limits") -> int:
    value = ((container.get("resources") or {}).get(section) or {}).get("nvidia.com/gpu")
    return int(value) if value is not None else 0
