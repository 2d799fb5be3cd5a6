"""Prometheus metrics (default registry, so the router's harvis_router_* series show up too)."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harvis.api.routing import api_router

router = api_router(tags=["health"])

HTTP_REQUESTS = Counter(
    "harvis_http_requests_total", "HTTP requests by route template and status", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "harvis_http_request_duration_seconds",
    "Time to the response's first byte, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LLM_TTFT = Histogram(
    "harvis_llm_time_to_first_token_seconds",
    "From request to the first token, by API and model",
    ["api", "model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
)
LLM_STREAMS = Counter("harvis_llm_streams_total", "Answers by API and final status", ["api", "status"])
LLM_TOKENS = Counter("harvis_llm_completion_tokens_total", "Completion tokens reported by nodes", ["model"])


def route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # Unmatched paths are not used as labels: anyone could create unlimited series.
    return path if isinstance(path, str) else "unmatched"


class MetricsMiddleware:
    """Pure ASGI (not BaseHTTPMiddleware) so streamed responses pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_and_measure(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                HTTP_LATENCY.labels(scope["method"], route_of(scope)).observe(time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_and_measure)
        finally:
            HTTP_REQUESTS.labels(scope["method"], route_of(scope), str(status)).inc()


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
