"""Router overhead: the same one-token chat direct to a node, through Harvis's Router, and
through LiteLLM's Router given the same model_list.

The node is an Ollama-API responder written for this benchmark that answers at once (one
token, then done), so the few milliseconds a router adds are not lost in generation noise;
this is also how LiteLLM measures its own overhead. Variants run in a shuffled order inside
each round (paired A/B), many rounds, at concurrency 1 and 32; we report p50/p95 of the
latency (request start to end of stream), the latency each router adds over direct, and
the CPU time per request this process spends (steadier than wall time on shared cores).
Objects alive after setup are frozen out of the garbage collector (gc.freeze) for every
variant alike, as long-running servers do.

LiteLLM is never a Harvis dependency: install it into a separate venv and run the whole
benchmark there, with Harvis's source on the path:

    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install litellm==1.110.2 prometheus-client==0.26.0 \
        pydantic-settings==2.16.3 pyyaml==6.0.3
    PYTHONPATH=src /tmp/bench-venv/bin/python benchmarks/router_overhead.py

Without LiteLLM importable it measures direct vs Harvis only (and says so).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM: no network at import

MODEL = "smollm2:135m"
MESSAGES = [{"role": "user", "content": "Say hi."}]


# -- the instant Ollama-API responder (runs in its own process) --------------------------------


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _ndjson_answer(path: str) -> bytes:
    key = "response" if path == "/api/generate" else "message"
    token: Any = "Hi" if key == "response" else {"role": "assistant", "content": "Hi"}
    done: Any = "" if key == "response" else {"role": "assistant", "content": ""}
    first = {"model": MODEL, "created_at": "2026-01-01T00:00:00Z", key: token, "done": False}
    last = {
        "model": MODEL,
        "created_at": "2026-01-01T00:00:00Z",
        key: done,
        "done": True,
        "done_reason": "stop",
        "total_duration": 1000,
        "load_duration": 0,
        "prompt_eval_count": 5,
        "prompt_eval_duration": 100,
        "eval_count": 1,
        "eval_duration": 100,
    }
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
    return (
        head
        + _chunk(json.dumps(first).encode() + b"\n")
        + _chunk(json.dumps(last).encode() + b"\n")
        + b"0\r\n\r\n"
    )


def _json_answer(body: dict[str, Any]) -> bytes:
    data = json.dumps(body).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(data),
        data,
    )


INFO: dict[str, dict[str, Any]] = {
    "/api/ps": {
        "models": [
            {"name": MODEL, "model": MODEL, "size": 1, "size_vram": 0, "expires_at": "2099-01-01T00:00:00Z"}
        ]
    },
    "/api/tags": {"models": [{"name": MODEL, "model": MODEL, "size": 1}]},
    "/api/version": {"version": "0.0.0-bench"},
}


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if length:
                await reader.readexactly(length)
            if method == "POST" and path in ("/api/chat", "/api/generate"):
                writer.write(_ndjson_answer(path))
            elif path in INFO:
                writer.write(_json_answer(INFO[path]))
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve(host: str, port: int) -> None:
    server = await asyncio.start_server(_handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


# -- the three ways to ask --------------------------------------------------------------------


async def direct_path(url: str) -> Callable[[], Awaitable[None]]:
    import httpx

    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)  # as Harvis's client
    client = httpx.AsyncClient(base_url=url, timeout=30, limits=limits)
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}

    async def once() -> None:
        async with client.stream("POST", "/api/chat", json=body) as response:
            async for line in response.aiter_lines():
                if line and json.loads(line).get("done"):
                    break

    return once


def model_list(url: str) -> list[dict[str, Any]]:
    # ollama_chat/ makes LiteLLM use /api/chat as Harvis does (ollama/ would be /api/generate).
    return [
        {
            "model_name": MODEL,
            "litellm_params": {"model": f"ollama_chat/{MODEL}", "api_base": url, "max_parallel_requests": 64},
        }
    ]


async def harvis_path(url: str) -> tuple[Callable[[], Awaitable[None]], Any]:
    from harvis.config import LLMSettings
    from harvis.llm.router import Router
    from harvis.llm.router_config import parse_config
    from harvis.llm.types import ChatRequest, StreamEnd

    router = Router(LLMSettings(probe_interval_s=30.0), parse_config({"model_list": model_list(url)}))
    await router.start()
    request = ChatRequest(MODEL, MESSAGES)

    async def once() -> None:
        async for item in router.stream_chat(request):
            if isinstance(item, StreamEnd):
                break

    return once, router


async def litellm_path(url: str) -> Callable[[], Awaitable[None]] | None:
    try:
        import litellm
    except ImportError:
        return None
    import logging

    litellm.telemetry = False
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    router = litellm.Router(model_list=model_list(url))

    async def once() -> None:
        stream = await router.acompletion(model=MODEL, messages=MESSAGES, stream=True)
        async for _ in stream:
            pass

    return once


# -- measuring ------------------------------------------------------------------------------------


async def _timed_batch(once: Callable[[], Awaitable[None]], concurrency: int) -> list[float]:
    async def one() -> float:
        t0 = time.perf_counter()
        await once()
        return time.perf_counter() - t0

    return list(await asyncio.gather(*(one() for _ in range(concurrency))))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    paths: dict[str, Callable[[], Awaitable[None]]], concurrency: int, rounds: int, warmup: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {name: [] for name in paths}
    paired: dict[str, list[float]] = {name: [] for name in paths if name != "direct"}
    # CPU time this process spends per request: the work a router adds, and much less
    # disturbed than wall time when other processes share the cores.
    cpu: dict[str, float] = dict.fromkeys(paths, 0.0)
    for i in range(warmup + rounds):
        order = list(paths)
        rng.shuffle(order)  # paired A/B: every round runs each variant once, in random order
        medians: dict[str, float] = {}
        for name in order:
            cpu0 = time.process_time()
            times = await _timed_batch(paths[name], concurrency)
            if i >= warmup:
                cpu[name] += time.process_time() - cpu0
                samples[name].extend(times)
                medians[name] = statistics.median(times)
        if i >= warmup:
            for name in paired:
                paired[name].append(medians[name] - medians["direct"])
    ms = 1000.0
    out: dict[str, Any] = {
        "concurrency": concurrency,
        "rounds": rounds,
        "requests_per_variant": rounds * concurrency,
    }
    for name, values in samples.items():
        out[name] = {
            "p50_ms": _pct(values, 0.5) * ms,
            "p95_ms": _pct(values, 0.95) * ms,
            "cpu_ms_per_request": cpu[name] / len(values) * ms,
        }
    for name, diffs in paired.items():
        out[name]["added_p50_ms"] = out[name]["p50_ms"] - out["direct"]["p50_ms"]
        out[name]["added_p95_ms"] = out[name]["p95_ms"] - out["direct"]["p95_ms"]
        out[name]["paired_added_median_ms"] = statistics.median(diffs) * ms
        out[name]["ratio_p50"] = out[name]["p50_ms"] / out["direct"]["p50_ms"]
        out[name]["added_cpu_ms"] = out[name]["cpu_ms_per_request"] - out["direct"]["cpu_ms_per_request"]
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_port(port: int) -> None:
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.01)
    raise RuntimeError("the responder did not start")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    port = _free_port()
    # The responder is its own process so its work does not share our event loop.
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])  # noqa: ASYNC220
    try:
        await _wait_port(port)
        url = f"http://127.0.0.1:{port}"
        paths: dict[str, Callable[[], Awaitable[None]]] = {"direct": await direct_path(url)}
        paths["harvis"], router = await harvis_path(url)
        lite = await litellm_path(url)
        if lite is not None:
            paths["litellm"] = lite
        else:
            print(
                "LiteLLM is not importable here: measuring direct vs Harvis only (see the docstring)",
                file=sys.stderr,
            )
        # LiteLLM's import leaves a very large heap; without this, full collections walking it
        # land on whichever variant happens to allocate at that moment. Same for all variants.
        gc.collect()
        gc.freeze()
        results: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count(), "results": []}
        for concurrency in args.concurrency:
            rounds = args.rounds if concurrency == 1 else max(10, args.rounds // concurrency * 2)
            results["results"].append(await measure(paths, concurrency, rounds, args.warmup, args.seed))
        await router.close()
        return results
    finally:
        server.terminate()
        server.wait(timeout=10)


def _table(results: dict[str, Any]) -> str:
    header = (
        "| concurrency | variant | p50 ms | p95 ms | added p50 ms | added p95 ms "
        "| paired added median ms | CPU ms/request | added CPU ms |"
    )
    rows = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in results["results"]:
        for name in ("direct", "harvis", "litellm"):
            if name not in r:
                continue
            v = r[name]
            extra = (
                f"{v['added_p50_ms']:.2f} | {v['added_p95_ms']:.2f} | {v['paired_added_median_ms']:.2f}"
                if name != "direct"
                else "– | – | –"
            )
            added_cpu = f"{v['added_cpu_ms']:.3f}" if name != "direct" else "–"
            rows.append(
                f"| {r['concurrency']} | {name} | {v['p50_ms']:.2f} | {v['p95_ms']:.2f} | {extra} "
                f"| {v['cpu_ms_per_request']:.3f} | {added_cpu} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=600, help="rounds at concurrency 1 (fewer at 32)")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve("127.0.0.1", args.serve))
        return
    results = asyncio.run(run(args))
    print(json.dumps(results, indent=2) if args.json else _table(results))


if __name__ == "__main__":
    main()
