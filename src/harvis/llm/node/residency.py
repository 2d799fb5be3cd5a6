"""Loaded models and their keep-alive: load once, keep per request's keep_alive, unload on expiry."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from harvis.llm.node.metrics import NodeMetrics
from harvis.llm.node.registry import ModelFile, rfc3339
from harvis.llm.node.runtime import LlamaRuntime

log = logging.getLogger(__name__)

# What Ollama shows for "keep forever": Go's largest time.Duration from now (~292 years).
_FOREVER = timedelta(seconds=(2**63 - 1) / 1e9)


@dataclass
class Resident:
    model: ModelFile
    runtime: LlamaRuntime
    n_ctx: int
    expires_at: float | None  # epoch seconds; None = never
    in_use: int = 0

    def ps_entry(self) -> dict[str, Any]:
        expires = (
            datetime.now(UTC) + _FOREVER
            if self.expires_at is None
            else datetime.fromtimestamp(self.expires_at, UTC)
        )
        return {
            **self.model.tag(),
            "expires_at": rfc3339(expires),
            "size_vram": 0,
            "size": self.model.size + self.model.info.kv_cache_bytes(self.n_ctx),
            "context_length": self.n_ctx,
        }


class Residency:
    def __init__(self, threads: int, default_ctx: int, metrics: NodeMetrics) -> None:
        self._threads = threads
        self._default_ctx = default_ctx
        self._metrics = metrics
        self._resident: dict[str, Resident] = {}
        self._lock = asyncio.Lock()  # one load/unload at a time
        self._wake = asyncio.Event()

    def context_for(self, model: ModelFile, num_ctx: int | None) -> int:
        limit = model.info.context_length or 1 << 20
        return max(16, min(num_ctx or self._default_ctx, limit))

    async def acquire(self, model: ModelFile, num_ctx: int | None) -> tuple[Resident, float]:
        """The resident model (loading it off the event loop if needed) and the load time."""
        want_ctx = self.context_for(model, num_ctx)
        async with self._lock:
            res = self._resident.get(model.name)
            if res is not None and (
                res.model.path != model.path or res.model.size != model.size or want_ctx > res.n_ctx
            ):
                await self._unload_locked(res)  # Ollama reloads for a bigger context too
                res = None
            load_s = 0.0
            if res is None:
                started = time.perf_counter()
                # Shielded: a client that leaves mid-load must not waste the load for the next one.
                with anyio.CancelScope(shield=True):
                    runtime = await asyncio.to_thread(
                        LlamaRuntime, model.path, want_ctx, self._threads, model.info.chat_template
                    )
                load_s = time.perf_counter() - started
                res = Resident(model=model, runtime=runtime, n_ctx=want_ctx, expires_at=None)
                self._resident[model.name] = res
                self._metrics.loaded.set(len(self._resident))
                self._metrics.load_seconds.labels(model.name).observe(load_s)
                log.info(
                    "loaded %s (n_ctx=%d, threads=%d) in %.2fs", model.name, want_ctx, self._threads, load_s
                )
            res.in_use += 1
            return res, load_s

    def release(self, res: Resident, keep_alive_s: float | None) -> None:
        """The request is done with the model; it stays for ``keep_alive_s`` (None = forever)."""
        res.in_use -= 1
        res.expires_at = None if keep_alive_s is None else time.time() + keep_alive_s
        self._wake.set()

    async def unload(self, name: str) -> None:
        async with self._lock:
            res = self._resident.get(name)
            if res is not None and res.in_use == 0:
                await self._unload_locked(res)

    async def _unload_locked(self, res: Resident) -> None:
        self._resident.pop(res.model.name, None)
        self._metrics.loaded.set(len(self._resident))
        await asyncio.to_thread(res.runtime.close)
        log.info("unloaded %s", res.model.name)

    def ps(self) -> list[dict[str, Any]]:
        return [r.ps_entry() for r in self._resident.values()]

    async def expire_forever(self) -> None:
        """Background task: unload idle models whose keep-alive has passed."""
        while True:
            self._wake.clear()  # before looking, so a release during an unload wakes us again
            now = time.time()
            due = [r for r in self._resident.values() if r.in_use == 0 and r.expires_at is not None]
            for res in due:
                if res.expires_at is not None and res.expires_at <= now:
                    try:
                        await self.unload(res.model.name)
                    except Exception:  # keep expiring the others; this one is retried next round
                        log.exception("unloading %s failed", res.model.name)
            pending = [r.expires_at - now for r in due if r.expires_at is not None and r.expires_at > now]
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=min([60.0, *pending]))
            except TimeoutError:
                pass

    async def close(self) -> None:
        async with self._lock:
            for res in list(self._resident.values()):
                await self._unload_locked(res)
