"""Prometheus metrics of one node, in its own registry (several apps may share a process in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "harvis_llm_node_requests_total", "HTTP requests answered", ["path", "status"], registry=r
        )
        self.generations = Counter(
            "harvis_llm_node_generations_total",
            "Generations finished, by why they ended (cancelled = client left)",
            ["model", "done_reason"],
            registry=r,
        )
        self.tokens = Counter(
            "harvis_llm_node_tokens_total", "Tokens evaluated", ["model", "kind"], registry=r
        )
        self.prompt_renders = Counter(
            "harvis_llm_node_prompt_renders_total",
            "Chat-template renders while building prompts (shortening a long chat is one pass)",
            ["model"],
            registry=r,
        )
        self.waiting = Gauge(
            "harvis_llm_node_queue_waiting", "Requests waiting for the generation slot", registry=r
        )
        self.loaded = Gauge("harvis_llm_node_models_loaded", "Models resident in memory", registry=r)
        self.load_seconds = Histogram(
            "harvis_llm_node_load_seconds",
            "Model load time",
            ["model"],
            registry=r,
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
        )
        self.ttft_seconds = Histogram(
            "harvis_llm_node_ttft_seconds",
            "Request arrival to first token (queue + load + prompt)",
            ["model"],
            registry=r,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
        )
        self.rejected = Counter(
            "harvis_llm_node_rejected_total", "Requests refused with 503 (queue full)", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
