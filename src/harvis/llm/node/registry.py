"""Which models this node can serve: catalogue LLMs that resolve, plus NodeSettings.extra_models."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harvis.llm.node.gguf_meta import GGUFInfo, NotGGUF, human_parameters, read_gguf
from harvis.llm.types import ModelNotFound
from harvis.models import catalog

log = logging.getLogger(__name__)


def normalize_name(name: str) -> str:
    """Ollama's rule: names are case-insensitive and a missing tag means ":latest"."""
    name = name.strip().lower()
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    size: int
    modified_at: datetime
    digest: str
    info: GGUFInfo

    def details(self) -> dict[str, Any]:
        family = self.info.architecture
        return {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": str(self.info.metadata.get("general.size_label") or "")
            or human_parameters(self.info.parameter_count),
            "quantization_level": self.info.quantization,
        }

    def tag(self) -> dict[str, Any]:
        """One entry of /api/tags."""
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": rfc3339(self.modified_at),
            "size": self.size,
            "digest": self.digest,
            "details": self.details(),
        }


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class ModelRegistry:
    """Looks models up on every call (a model fetched after start shows up), caching headers."""

    def __init__(self, models_dir: Path, extra_models: dict[str, Path] | None = None) -> None:
        self._models_dir = models_dir
        self._extra = {normalize_name(n): p.expanduser() for n, p in (extra_models or {}).items()}
        self._cache: dict[tuple[Path, int, int], GGUFInfo] = {}
        self._lock = threading.Lock()

    def _candidates(self) -> dict[str, tuple[Path, str]]:
        found: dict[str, tuple[Path, str]] = {}
        for entry in catalog.CATALOG.values():
            if entry.kind != "llm":
                continue
            try:
                found[entry.name] = (catalog.resolve(entry.name, self._models_dir), entry.sha256)
            except catalog.ModelMissing:
                continue
        for name, path in self._extra.items():
            if path.is_file():
                found[name] = (path, "")
            else:
                log.warning("extra model %s: %s does not exist", name, path)
        return found

    def _describe(self, name: str, path: Path, sha256: str) -> ModelFile | None:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            info = self._cache.get(key)
        if info is None:
            try:
                info = read_gguf(path)
            except (NotGGUF, OSError) as exc:
                log.warning("model %s at %s is unusable: %s", name, path, exc)
                return None
            with self._lock:
                self._cache[key] = info
        # Hashing a 500 MB file per listing is too slow; the catalogue knows the real sha256.
        digest = sha256 or hashlib.sha256(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
        modified = datetime.fromtimestamp(stat.st_mtime, UTC)
        return ModelFile(
            name=name, path=path, size=stat.st_size, modified_at=modified, digest=digest, info=info
        )

    def list(self) -> list[ModelFile]:
        models = (self._describe(n, p, s) for n, (p, s) in sorted(self._candidates().items()))
        return [m for m in models if m is not None]

    def get(self, name: str) -> ModelFile:
        wanted = normalize_name(name)
        for model in self.list():
            if model.name == wanted:
                return model
        raise ModelNotFound(f'model "{name}" not found, try pulling it first')
