"""Ollama nodes: reachable and how fast, and which configured models each one has and has loaded."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

from harvis.doctor.context import Context
from harvis.doctor.result import Check
from harvis.llm.ollama_client import OllamaClient
from harvis.llm.types import LLMError

SLOW_MS = 500.0


def _full(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


def _pull_fix(url: str, models: list[str]) -> str:
    pulls = " && ".join(f"ollama pull {m}" for m in models)
    return (
        f"on the node behind {url}: {pulls}\n"
        f"in Kubernetes: kubectl exec -n ai-agents deploy/harvis-ai-ollama-workstation -- {pulls}\n"
        "or list them in OLLAMA_PULL_MODELS (harvis-ai-ollama-config) for the init container"
    )


def _unreachable_fix(url: str) -> str:
    return (
        f"curl -v {url}/api/tags\n"
        "is Ollama running there? (ollama serve, or harvis llm-node on a laptop)\n"
        "in Kubernetes: kubectl get endpoints harvis-ai-ollama-workstation -n ai-agents; "
        "kubectl get pods -n ai-agents -o wide | grep ollama"
    )


async def check_node(url: str, models: list[str], timeout_s: float) -> list[Check]:
    name = f"ollama {url}"
    client = OllamaClient(url, connect_timeout_s=timeout_s)
    try:
        started = time.perf_counter()
        version = await asyncio.wait_for(client.version(), timeout_s)
        latency_ms = (time.perf_counter() - started) * 1000
        tags, loaded = await asyncio.wait_for(asyncio.gather(client.tags(), client.ps()), timeout_s)
    except (LLMError, TimeoutError) as exc:
        why = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        return [Check.fail(name, f"unreachable: {why}", _unreachable_fix(url), url=url)]
    finally:
        await client.aclose()
    present = {_full(str(t.get("name") or t.get("model"))) for t in tags}
    in_memory = sorted(_full(str(m.get("name") or m.get("model"))) for m in loaded)
    shown = ", ".join(in_memory) or "none"
    detail = f"version {version}, {latency_ms:.0f} ms, {len(present)} models, loaded: {shown}"
    data: dict[str, Any] = {
        "url": url,
        "latency_ms": round(latency_ms, 1),
        "version": version,
        "models": sorted(present),
        "loaded": in_memory,
    }
    if latency_ms > SLOW_MS:
        node = Check.warn(
            name,
            f"slow: {detail}",
            "a busy or distant node: check the network path and the node's load (ollama ps)",
            **data,
        )
    else:
        node = Check.ok(name, detail, **data)
    missing = [m for m in models if _full(m) not in present]
    models_name = f"models {url}"
    if missing:
        result = Check.fail(
            models_name,
            f"configured but not on this node: {', '.join(missing)}",
            _pull_fix(url, missing),
            missing=missing,
        )
    elif models:
        cold = [m for m in models if _full(m) not in in_memory]
        note = f"; not loaded yet (first answer pays the load): {', '.join(cold)}" if cold else "; all loaded"
        result = Check.ok(models_name, f"present: {', '.join(models)}{note}", present=models, cold=cold)
    else:
        result = Check.ok(models_name, "no models configured for this node")
    return [node, result]


async def discovered(ctx: Context) -> list[str]:
    """Ollama nodes behind the scale-out headless Service (one A record per ready pod)."""
    name, port = ctx.settings.llm.discover_dns, ctx.settings.llm.discover_port
    if not name:
        return []
    try:
        infos = await asyncio.wait_for(
            asyncio.to_thread(socket.getaddrinfo, name, port, type=socket.SOCK_STREAM), ctx.timeout_s
        )
    except (OSError, TimeoutError):
        return []  # the DNS check reports it
    hosts = sorted({str(info[4][0]) for info in infos})
    return [f"http://[{h}]:{port}" if ":" in h else f"http://{h}:{port}" for h in hosts]


async def run(ctx: Context) -> list[Check]:
    targets = ctx.ollama_targets()
    default_models = [ctx.settings.llm.default_model]
    for url in await discovered(ctx):
        targets.setdefault(url, default_models if not targets else [])
    if not targets:
        return [
            Check.skip(
                "ollama",
                "OLLAMA_URL is unset and no router file: harvis serve runs its "
                "embedded LLM node (pass --backend-url to check it)",
            )
        ]
    results = await asyncio.gather(*(check_node(u, m, ctx.timeout_s) for u, m in targets.items()))
    return [c for checks in results for c in checks]
