"""Router.status(): deployments, nodes and disabled config entries as JSON."""

from __future__ import annotations

import time
from typing import Any

from harvis.llm.registry import Registry


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
