"""Prometheus metrics for router decisions (default registry, `harvis_router_*`).

Defined once per process: several Router instances (tests, reloads) share them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ATTEMPTS = Counter(
    "harvis_router_attempts_total",
    "Upstream attempts by deployment and outcome (ok, retried, broken, not_found, busy, bad_request)",
    ["deployment", "outcome", "fallback"],
)
REQUESTS = Counter(
    "harvis_router_requests_total",
    "Routed chat requests by final outcome (ok or an error code) and whether a fallback served them",
    ["model", "outcome", "fallback"],
)
COOLDOWNS = Counter("harvis_router_cooldowns_total", "Deployments put into cooldown", ["deployment"])
QUEUE_TIMEOUTS = Counter(
    "harvis_router_queue_timeouts_total", "Requests refused after waiting for a free deployment", ["model"]
)
IN_FLIGHT = Gauge("harvis_router_in_flight", "Requests in flight per deployment", ["deployment"])
NODE_UP = Gauge("harvis_router_node_up", "1 if the node answered its last probe", ["node"])
