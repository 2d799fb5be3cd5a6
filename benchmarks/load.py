"""Load benchmark: text chats through the router to TWO `harvis llm-node` processes, and
concurrent voice turns, against one real `harvis serve`, bounded in count and time.

Each request ends as ok, busy (HTTP 503 with Retry-After, or the voice turn's SSE
`no_capacity` error), error, or hang (no answer within --timeout). The run first measures a
baseline (the same requests one at a time), then the loaded run at --concurrency, and prints
p50/p95 latency of completed requests and the ratio loaded/baseline, plus every count.

Command (from the repo root):
  .venv/bin/python benchmarks/load.py --chats 40 --voices 8 --concurrency 8 --json /tmp/load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the driver lives with the tests that share it

from tests.support.load import load_stack, run_load, summarize  # noqa: E402
from tests.support.speech import espeak_wav  # noqa: E402


def ratio(loaded: float | None, base: float | None) -> str:
    return f"{loaded / base:.2f}x" if loaded and base else "-"


def fmt(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def report(baseline: dict[str, Any], loaded: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"\nload: {args.chats} chats + {args.voices} voice turns at concurrency {args.concurrency}; "
        f"max {args.max_parallel} per node, queue wait {args.queue_wait}s; 2 nodes, 1 thread each"
    )
    print(
        f"{'kind':6} {'run':9} {'n':>4} {'ok':>4} {'busy':>5} {'error':>6} {'hang':>5} "
        f"{'p50 s':>7} {'p95 s':>7} {'p50 ratio':>10} {'p95 ratio':>10}"
    )
    for kind in sorted(loaded):
        for name, run in (("baseline", baseline), ("loaded", loaded)):
            f = run.get(kind)
            if not f:
                continue
            b = baseline.get(kind, {})
            r50 = ratio(f["p50_s"], b.get("p50_s")) if name == "loaded" else ""
            r95 = ratio(f["p95_s"], b.get("p95_s")) if name == "loaded" else ""
            print(
                f"{kind:6} {name:9} {f['requests']:>4} {f['ok']:>4} {f['busy']:>5} {f['error']:>6} "
                f"{f['hang']:>5} {fmt(f['p50_s']):>7} {fmt(f['p95_s']):>7} {r50:>10} {r95:>10}"
            )
    for kind, f in loaded.items():
        for err in f["errors"]:
            print(f"  {kind} {err['result']}: {err['status']} {err['detail'][:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--voices", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--baseline", type=int, default=4, help="requests of each kind run one at a time first"
    )
    parser.add_argument("--max-parallel", type=int, default=2, help="requests per node at once")
    parser.add_argument("--queue-wait", type=float, default=5.0, help="seconds a request waits for a node")
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300.0, help="per request: longer counts as a hang")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="harvis-bench-load-"))
    audio = espeak_wav("What is the capital of France?", tmp / "q.wav").read_bytes()
    started = time.time()
    with load_stack(tmp, max_parallel=args.max_parallel, queue_wait_s=args.queue_wait) as stack:
        base = asyncio.run(
            run_load(
                stack.backend.url,
                stack.token,
                chats=args.baseline,
                voices=args.baseline,
                concurrency=1,
                audio=audio,
                max_tokens=args.max_tokens,
                timeout_s=args.timeout,
            )
        )
        loaded = asyncio.run(
            run_load(
                stack.backend.url,
                stack.token,
                chats=args.chats,
                voices=args.voices,
                concurrency=args.concurrency,
                audio=audio,
                max_tokens=args.max_tokens,
                timeout_s=args.timeout,
            )
        )
        alive = stack.backend.popen.poll() is None
    baseline, under_load = summarize(base), summarize(loaded)
    report(baseline, under_load, args)
    bad = sum(f["error"] + f["hang"] + f["busy_without_retry_after"] for f in under_load.values())
    print(
        f"\nbackend alive after the run: {alive}; requests neither completed nor refused with "
        f"Retry-After: {bad}; wall time {time.time() - started:.0f}s"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "baseline": baseline,
                    "loaded": under_load,
                    "backend_alive": alive,
                    "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                },
                indent=2,
            )
        )
    return 0 if alive and bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
