"""Background upkeep of the router's view of its nodes.

Every `probe_interval_s`: each Ollama node's `/api/ps` (alive? which models are loaded?)
and, for nodes found at run time, `/api/tags` (which models does it serve?). Every
`discover_interval_s`: the DNS name of a headless Service, whose A/AAAA records are the
Ollama pods (scale-out). Cloud APIs are not probed: that would spend the user's quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import time

from harvis.config import LLMSettings
from harvis.llm.deployment import Node
from harvis.llm.ollama_client import OllamaClient
from harvis.llm.registry import Registry
from harvis.llm.router_metrics import NODE_UP
from harvis.llm.types import LLMError

log = logging.getLogger(__name__)


def _names(models: list[dict[str, object]]) -> set[str]:
    return {str(m.get("name") or m.get("model")) for m in models if m.get("name") or m.get("model")}


async def probe_node(registry: Registry, node: Node) -> None:
    client = node.client
    if not isinstance(client, OllamaClient):
        return
    try:
        loaded = _names(await client.ps())
        if node.discovered:
            registry.sync_models(node, _names(await client.tags()))
    except LLMError as exc:
        if node.healthy:
            log.warning("Ollama node %s failed its probe: %s", node.url, exc.message)
        node.healthy, node.detail = False, exc.message
        node.loaded = set()  # what a node that does not answer holds cannot be used
    else:
        if not node.healthy:
            log.info("Ollama node %s answers again", node.url)
        node.healthy, node.detail = True, ""
        node.loaded = {name.removesuffix(":latest") for name in loaded}
    NODE_UP.labels(node.url).set(1 if node.healthy else 0)


async def probe_all(registry: Registry) -> None:
    nodes = list(registry.nodes.values())
    await asyncio.gather(*(probe_node(registry, n) for n in nodes))


async def announce(registry: Registry) -> None:
    """One start-up line per Ollama node: which one this backend uses and whether it answered
    (what the guide's `kubectl logs … | grep -i ollama` looks for)."""
    for node in list(registry.nodes.values()):
        if not isinstance(node.client, OllamaClient):
            continue
        if not node.healthy:
            log.warning("Ollama at %s did not answer at start-up: %s", node.url, node.detail)
            continue
        t0 = time.perf_counter()
        try:
            version = await node.client.version()
            names = sorted(_names(await node.client.tags()))
        except LLMError as exc:
            log.warning("Ollama at %s did not answer at start-up: %s", node.url, exc.message)
            continue
        log.info(
            "Ollama at %s answered in %.0f ms: version %s, models: %s",
            node.url,
            (time.perf_counter() - t0) * 1000,
            version,
            ", ".join(names) or "none",
        )


def _url(address: str, port: int) -> str:
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    return f"http://{host}:{port}"


async def resolve(name: str, port: int) -> set[str] | None:
    """The node URLs a DNS name points at; None when the lookup itself failed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("DNS discovery of %s failed: %s", name, exc)
        return None
    return {_url(str(info[4][0]), port) for info in infos}


async def discover(registry: Registry, llm: LLMSettings) -> None:
    urls = await resolve(llm.discover_dns, llm.discover_port)
    if urls is None:
        return  # a failed lookup is not "no nodes": keep what we have
    for url in urls - registry.nodes.keys():
        log.info("DNS discovery: new Ollama node %s", url)
        await probe_node(registry, registry.add_discovered(url, "dns"))
    for url, node in list(registry.nodes.items()):
        if node.source == "dns" and url not in urls:
            log.info("DNS discovery: Ollama node %s is gone", url)
            registry.remove_discovered(url)


async def close_retired(registry: Registry) -> None:
    for node in list(registry.retired):
        if node.in_flight == 0:
            registry.retired.remove(node)
            with contextlib.suppress(Exception):
                await node.client.aclose()


async def watch(registry: Registry, llm: LLMSettings) -> None:
    """Runs until cancelled (Router.close)."""
    loop = asyncio.get_running_loop()
    next_discovery = loop.time() + llm.discover_interval_s
    while True:
        await asyncio.sleep(llm.probe_interval_s)
        try:
            if llm.discover_dns and loop.time() >= next_discovery:
                next_discovery = loop.time() + llm.discover_interval_s
                await discover(registry, llm)
            await probe_all(registry)
            await close_retired(registry)
        except Exception:  # keep watching: a bug in one round must not stop health checks
            log.exception("LLM node upkeep failed; trying again in %gs", llm.probe_interval_s)
