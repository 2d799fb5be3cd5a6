"""Router.status() and Router.check(): deployments, nodes and disabled config entries as JSON."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from harvis.llm.ollama_client import OllamaClient
from harvis.llm.registry import Registry
from harvis.llm.types import LLMError


def status(registry: Registry, default_model: str, fallbacks: dict[str, list[str]]) -> dict[str, Any]:
    now = time.monotonic()
    wall = time.time()
    return {
        "default_model": default_model,
        "fallbacks": fallbacks,
        "deployments": [
            {
                "id": dep.id,
                "model": dep.config.model_name,
                "upstream_model": dep.config.upstream_model,
                "provider": dep.node.provider,
                "node": dep.node.url,
                "healthy": dep.node.healthy,
                "cooling_until": wall + dep.cooling_until - now if dep.cooling(now) else None,
                "in_flight": dep.in_flight,
                "max_parallel": dep.max_parallel,
                "loaded": dep.loaded(),
            }
            for dep in registry.deployments()
        ],
        "disabled": registry.disabled_report(),
        "nodes": [
            {
                "url": n.url,
                "provider": n.provider,
                "healthy": n.healthy,
                "detail": n.detail,
                "loaded_models": sorted(n.loaded),
                "models": sorted(n.models),
                "source": n.source,
                "in_flight": n.in_flight,
            }
            for n in registry.nodes.values()
        ],
    }


async def check(registry: Registry, default_model: str, timeout_s: float) -> dict[str, Any]:
    """Which Ollama nodes answer now (each within timeout_s), and whether the default model is served."""
    nodes = [n for n in registry.nodes.values() if isinstance(n.client, OllamaClient)]

    async def one(node: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                version = await node.client.version()
            return {"url": node.url, "ok": True, "detail": f"version {version}"}
        except (LLMError, TimeoutError) as exc:
            return {"url": node.url, "ok": False, "detail": getattr(exc, "message", "timed out")}

    results = list(await asyncio.gather(*(one(n) for n in nodes)))
    reachable = {r["url"] for r in results if r["ok"]}
    group = registry.groups.get(default_model, [])
    serving = [d for d in group if d.node.provider != "ollama" or d.node.url in reachable]
    detail = (
        f"{len(serving)} deployment(s) of {default_model} reachable"
        if serving
        else f"no reachable deployment of {default_model}"
    )
    disabled = registry.disabled_report()
    if disabled:
        detail += "; disabled: " + ", ".join(f"{d['model']} ({d['reason']})" for d in disabled)
    return {"ok": bool(serving), "detail": detail, "nodes": results, "disabled": disabled}
