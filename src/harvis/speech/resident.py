"""Resident models: each loads once per process, stays in memory, and shows its state.

Loading runs in a worker thread under a lock, so any number of concurrent first requests
cause exactly one load (`load_count` proves it). Loads are serialised across models too,
which keeps the memory figure of each (process RSS before/after, and this process's GPU memory
before/after on CUDA) its own.

What each model really runs on is the engine's word, not the configuration's: an engine with a
`runtime()` method reports its `path`, `device`, `provider` (and may report its own `memory_mb`,
e.g. what torch allocated), and status() shows those.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from harvis.errors import ServiceUnavailable
from harvis.speech import metrics

T = TypeVar("T")
State = Literal["unloaded", "loading", "ready", "failed"]
log = logging.getLogger(__name__)

# One lock for all loads in the process: memory deltas stay attributable to one model.
_LOAD_LOCK = threading.Lock()


@runtime_checkable
class Reports(Protocol):
    def runtime(self) -> dict[str, Any]:
        """{"path", "device", "provider"} and optionally "memory_mb", "fallback", "compute_type"."""
        ...


class ModelUnavailable(ServiceUnavailable):
    """A model failed to load; `reason` says why (missing files, missing package …)."""

    code = "model_unavailable"

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"speech model {name!r} is unavailable: {reason}")
        self.name = name
        self.reason = reason


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gpu_mb() -> float | None:
    """This process's GPU memory (MB) via nvidia-smi, or None where there is no NVIDIA GPU."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    total = 0.0
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(os.getpid()):
            total += float(parts[1])
    return total


class Resident(Generic[T]):
    def __init__(
        self,
        name: str,
        kind: str,
        engine: str,
        loader: Callable[[], T],
        *,
        device: str = "cpu",
        retry_after_s: float = 30.0,
    ) -> None:
        self.name = name
        self.kind = kind
        self.engine = engine
        self.device = device
        self._loader = loader
        self._retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._value: T | None = None
        self._failed_at = 0.0
        self.state: State = "unloaded"
        self.reason = ""
        self.load_count = 0
        self.load_s: float | None = None
        self.ram_mb: float | None = None
        self.gpu_memory_mb: float | None = None
        self.runtime: dict[str, Any] = {}

    def get_sync(self) -> T:
        value = self._value
        if value is not None:
            return value
        with self._lock:
            if self._value is not None:
                return self._value
            if self.state == "failed" and time.monotonic() - self._failed_at < self._retry_after_s:
                raise ModelUnavailable(self.name, self.reason)
            return self._load()

    async def get(self) -> T:
        value = self._value
        if value is not None:
            return value
        return await asyncio.to_thread(self.get_sync)

    def _load(self) -> T:
        with _LOAD_LOCK:
            self.state = "loading"
            self.load_count += 1
            rss0, gpu0, t0 = rss_mb(), gpu_mb() if self.device == "cuda" else None, time.perf_counter()
            try:
                value = self._loader()
            except Exception as exc:  # any loader failure is a state to show, not a crash
                self.state, self.reason = "failed", str(exc) or type(exc).__name__
                self._failed_at = time.monotonic()
                metrics.MODEL_LOADS.labels(self.name, self.kind, "failed").inc()
                metrics.MODEL_READY.labels(self.name, self.kind).set(0)
                log.warning("speech model %s failed to load: %s", self.name, self.reason)
                raise ModelUnavailable(self.name, self.reason) from exc
            self.load_s = time.perf_counter() - t0
            self.ram_mb = max(0.0, rss_mb() - rss0)
            if gpu0 is not None:
                gpu1 = gpu_mb()
                self.gpu_memory_mb = None if gpu1 is None else max(0.0, gpu1 - gpu0)
            self.runtime = dict(value.runtime()) if isinstance(value, Reports) else {}
            self._value, self.state, self.reason = value, "ready", ""
            memory = self.memory_mb or 0.0
            metrics.MODEL_LOADS.labels(self.name, self.kind, "ok").inc()
            metrics.MODEL_READY.labels(self.name, self.kind).set(1)
            metrics.MODEL_LOAD_SECONDS.labels(self.name, self.kind).set(self.load_s)
            metrics.MODEL_MEMORY_BYTES.labels(self.name, self.kind).set(memory * 2**20)
            info = self.status()
            log.info(
                "speech model %s ready in %.2f s on %s (%s), %.0f MB, from %s%s",
                self.name,
                self.load_s,
                info["device"],
                info["provider"],
                memory,
                info["path"] or "(built in)",
                f"; {info['fallback']}" if info.get("fallback") else "",
            )
            return value

    @property
    def memory_mb(self) -> float | None:
        """What the model takes where it runs: GPU memory on CUDA, process memory on the CPU."""
        if "memory_mb" in self.runtime:
            return float(self.runtime["memory_mb"])
        if self.runtime.get("device", self.device) == "cuda" and self.gpu_memory_mb is not None:
            return self.gpu_memory_mb
        return self.ram_mb

    def status(self) -> dict[str, Any]:
        value = self._value
        rt = dict(value.runtime()) if isinstance(value, Reports) else self.runtime  # live counters
        out: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "engine": self.engine,
            # Before a load: what is configured; after: what the engine says it runs on.
            "device": rt.get("device", self.device),
            "provider": rt.get("provider", self.engine if self.state == "ready" else None),
            "path": None if rt.get("path") is None else str(rt["path"]),
            "state": self.state,
            "reason": self.reason or None,
            "memory_mb": _round(self.memory_mb),
            "ram_mb": _round(self.ram_mb),
            "load_s": None if self.load_s is None else round(self.load_s, 3),
            "load_count": self.load_count,
        }
        out.update({k: rt[k] for k in ("fallback", "compute_type") if rt.get(k)})
        if "voices_prepared" in rt:  # Chatterbox: reference clips turned into conditionals so far
            out["voices_prepared"] = rt["voices_prepared"]
        return out

    def release(self) -> None:
        with self._lock:
            self.runtime = {}
            if self._value is not None:
                metrics.MODEL_READY.labels(self.name, self.kind).set(0)
            self._value = None
            self.state = "unloaded"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
