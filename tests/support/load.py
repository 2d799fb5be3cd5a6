"""A bounded load driver (httpx + an asyncio semaphore), shared by tests/reliability/test_load.py
and benchmarks/load.py: text chats through the router (POST /v1/chat/completions) and voice
turns (POST /api/voice/turn), each classified as ok, busy (503 with Retry-After, or the SSE
`no_capacity` error), error or hang (no answer within the client's limit)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc
from tests.support.reliability import router_config

MODEL = "smollm2:135m"
BUSY_CODES = ("no_capacity",)


@dataclass
class Outcome:
    kind: str  # chat | voice
    result: str  # ok | busy | error | hang
    status: int
    retry_after: str | None
    latency_s: float
    detail: str = ""


@dataclass
class Stack:
    backend: Proc
    nodes: list[Proc]
    token: str


@contextmanager
def load_stack(tmp: Path, *, max_parallel: int, queue_wait_s: float) -> Iterator[Stack]:
    """Two `harvis llm-node` processes behind the router of one `harvis serve`; models warm."""
    nodes: list[Proc] = []
    backend: Proc | None = None
    try:
        for i in range(2):
            nodes.append(start_llm_node(threads=1, log_path=tmp / f"node{i}.log"))
        for node in nodes:  # a cold load is not what this measures
            httpx.post(
                f"{node.url}/api/chat",
                timeout=300,
                json={
                    "model": MODEL,
                    "stream": False,
                    "messages": [{"role": "user", "content": "hi"}],
                    "options": {"num_predict": 1},
                },
            ).raise_for_status()
        config = router_config(tmp / "router.yaml", [(MODEL, n.url) for n in nodes])
        backend = start_backend(
            tmp / "data",
            log_path=tmp / "backend.log",
            env={
                "HARVIS_LLM_CONFIG": str(config),
                "HARVIS_LLM__MAX_PARALLEL_PER_DEPLOYMENT": str(max_parallel),
                "HARVIS_LLM__QUEUE_WAIT_S": str(queue_wait_s),
                "HARVIS_SPEECH__PRELOAD": "true",
            },
        )
        signup(backend.url, "loader")
        client = login(backend.url, "loader")
        token = token_of(client)
        client.close()
        yield Stack(backend, nodes, token)
    finally:
        if backend is not None:
            backend.stop()
        for node in nodes:
            node.stop()


async def text_chat(client: httpx.AsyncClient, i: int, max_tokens: int) -> Outcome:
    start = time.monotonic()
    try:
        r = await client.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "max_tokens": max_tokens,
                "temperature": 0,
                "seed": i,
                "messages": [{"role": "user", "content": f"Give me fact number {i} about the sea."}],
            },
        )
    except httpx.TimeoutException as exc:
        return Outcome("chat", "hang", 0, None, time.monotonic() - start, repr(exc))
    latency = time.monotonic() - start
    retry = r.headers.get("retry-after")
    if r.status_code == 200 and r.json()["choices"][0]["message"]["content"] is not None:
        return Outcome("chat", "ok", 200, None, latency)
    if r.status_code == 503 and retry:
        return Outcome("chat", "busy", 503, retry, latency, r.json()["error"]["code"])
    return Outcome("chat", "error", r.status_code, retry, latency, r.text[:300])


async def voice_turn(client: httpx.AsyncClient, audio: bytes) -> Outcome:
    start = time.monotonic()
    name, data = "", {}
    try:
        async with client.stream("POST", "/api/voice/turn", files={"audio": ("q.wav", audio)}) as r:
            if r.status_code != 200:
                body = (await r.aread()).decode(errors="replace")
                retry = r.headers.get("retry-after")
                result = "busy" if r.status_code == 503 and retry else "error"
                return Outcome("voice", result, r.status_code, retry, time.monotonic() - start, body[:300])
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:") and name in ("done", "error"):
                    data = json.loads(line[5:])
                    break
    except httpx.TimeoutException as exc:
        return Outcome("voice", "hang", 0, None, time.monotonic() - start, repr(exc))
    latency = time.monotonic() - start
    if name == "done":
        return Outcome("voice", "ok", 200, None, latency)
    if name == "error" and data.get("code") in BUSY_CODES:
        return Outcome("voice", "busy", 200, None, latency, data.get("code", ""))
    return Outcome("voice", "error", 200, None, latency, f"{name}: {data}"[:300])


async def run_load(
    base_url: str,
    token: str,
    *,
    chats: int,
    voices: int,
    concurrency: int,
    audio: bytes,
    max_tokens: int = 16,
    timeout_s: float = 180,
) -> list[Outcome]:
    """Every request bounded by `timeout_s` (a hang is reported, never waited out)."""
    sem = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 4)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(timeout_s),
        limits=limits,
    ) as client:

        async def one(job: tuple[str, int]) -> Outcome:
            async with sem:
                if job[0] == "chat":
                    return await text_chat(client, job[1], max_tokens)
                return await voice_turn(client, audio)

        # Voice turns spread among the chats, so both kinds compete for the nodes.
        jobs = [("chat", i) for i in range(chats)]
        for v in range(voices):
            jobs.insert((v * len(jobs)) // max(1, voices), ("voice", v))
        return list(await asyncio.gather(*(one(j) for j in jobs)))


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for kind in sorted({o.kind for o in outcomes}):
        mine = [o for o in outcomes if o.kind == kind]
        ok = [o.latency_s for o in mine if o.result == "ok"]
        summary[kind] = {
            "requests": len(mine),
            **{r: sum(1 for o in mine if o.result == r) for r in ("ok", "busy", "error", "hang")},
            "busy_without_retry_after": sum(
                1 for o in mine if o.result == "busy" and o.status == 503 and not o.retry_after
            ),
            "p50_s": percentile(ok, 50),
            "p95_s": percentile(ok, 95),
            "errors": [asdict(o) for o in mine if o.result in ("error", "hang")][:5],
        }
    return summary
