"""Live state of nodes and deployments, and the choice of which deployment serves next.

A *node* is one upstream server (an Ollama node or a cloud API base); it is healthy or not
(background probes) and knows which models it has loaded (`/api/ps`). A *deployment* is one
model group on one node; it counts requests in flight and cools down after repeated failures.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from harvis.llm.ollama_client import OllamaClient
from harvis.llm.openai_client import OpenAIClient
from harvis.llm.router_config import DeploymentConfig

_pick_seq = itertools.count()


def _base_name(model: str) -> str:
    """Ollama treats "llama3" and "llama3:latest" as one model."""
    return model.removesuffix(":latest")


@dataclass(eq=False)
class Node:
    url: str
    provider: str  # "ollama" | "openai"
    client: OllamaClient | OpenAIClient
    healthy: bool = True
    detail: str = ""
    loaded: set[str] = field(default_factory=set)  # base names from /api/ps
    models: set[str] = field(default_factory=set)  # names from /api/tags
    # "config" (model_list), "ollama_url" (no config file) or "dns" (discovery). Nodes not
    # from the config serve whatever their /api/tags lists.
    source: str = "config"
    in_flight: int = 0
    # Wildcard entries on this node: each listed model becomes a deployment made from them.
    wildcards: list[DeploymentConfig] = field(default_factory=list)

    @property
    def discovered(self) -> bool:
        """Its deployments follow its /api/tags (found at run time, or a wildcard entry)."""
        return self.source != "config" or bool(self.wildcards)

    def has_loaded(self, model: str) -> bool:
        # A cloud API has every model "loaded"; Ollama nodes say so in /api/ps.
        return self.provider != "ollama" or _base_name(model) in self.loaded

    def mark_loaded(self, model: str) -> None:
        if self.provider == "ollama":
            self.loaded.add(_base_name(model))


@dataclass(eq=False)
class Deployment:
    config: DeploymentConfig
    node: Node
    max_parallel: int
    in_flight: int = 0
    fails: int = 0  # consecutive failures since the last success or cooldown
    cooling_until: float = 0.0  # time.monotonic(); 0 = not cooling
    last_pick: int = 0

    @property
    def id(self) -> str:
        return self.config.id

    def cooling(self, now: float) -> bool:
        return self.cooling_until > now

    def loaded(self) -> bool:
        return self.node.has_loaded(self.config.upstream_model)

    def record_success(self) -> None:
        self.fails = 0
        self.node.mark_loaded(self.config.upstream_model)

    def record_failure(self, allowed_fails: int, cooldown_s: float) -> bool:
        """Count a failure; returns True when this one starts a cooldown."""
        self.fails += 1
        if self.fails >= allowed_fails:
            self.fails = 0
            self.cooling_until = time.monotonic() + cooldown_s
            return True
        return False


class Pick:
    """The outcome of one selection: a deployment, or why there is none."""

    __slots__ = ("all_busy", "deployment", "retry_after")

    def __init__(self, deployment: Deployment | None, *, all_busy: bool = False, retry_after: float = 0.0):
        self.deployment = deployment
        self.all_busy = all_busy
        self.retry_after = retry_after


def choose(candidates: Iterable[Deployment], exclude: set[str], now: float) -> Pick:
    """Loaded model first, then fewest in flight, then the one picked longest ago.

    Cooling deployments are skipped; nodes that failed their last probe are used only when
    nothing healthy is left (the probe may be stale, and the request would fail anyway).
    """
    best: Deployment | None = None
    best_key: tuple[int, int, int, int] | None = None
    busy = False
    soonest_cool = 0.0
    for dep in candidates:
        if dep.id in exclude:
            continue
        if dep.cooling(now):
            wait = dep.cooling_until - now
            soonest_cool = wait if not soonest_cool else min(soonest_cool, wait)
            continue
        if dep.in_flight >= dep.max_parallel:
            busy = True
            continue
        key = (0 if dep.node.healthy else 1, 0 if dep.loaded() else 1, dep.in_flight, dep.last_pick)
        if best_key is None or key < best_key:
            best, best_key = dep, key
    if best is not None:
        best.last_pick = next(_pick_seq)
        return Pick(best)
    return Pick(None, all_busy=busy, retry_after=soonest_cool)
