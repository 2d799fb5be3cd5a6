"""`harvis llm-node` against `llama_cpp.server` on the same GGUF and thread count.

Both servers run as real processes with the same environment. Each round sends the same
streaming request to both, in alternating order (A/B, then B/A), and measures on the
client side:

- time to first token (TTFT): request sent -> first non-empty text chunk;
- decode tokens/s: text chunks after the first / time from first to last chunk;
- end-to-end tokens/s: text chunks / whole request time.

Scenarios: `completion` (raw prompt: /api/generate raw=true vs /v1/completions, a counting
prompt that does not hit end-of-text early, so both generate exactly --num-predict tokens)
and `chat` (the GGUF chat template: /api/chat vs /v1/chat/completions). Greedy sampling
and the same repeat penalty on both sides.

    .venv/bin/python benchmarks/llm_node.py --runs 20 --threads 1 --num-predict 128

Needs llama_cpp.server's extras (sse-starlette, starlette-context: in the dev extra).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from harvis.config import Settings
from harvis.models import catalog

COUNT_PROMPT = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10,"
CHAT = [{"role": "user", "content": "Tell me a long story about a dragon who learns to cook."}]


@dataclass
class Sample:
    ttft_s: float
    decode_tps: float
    e2e_tps: float
    tokens: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(args: list[str], url: str, ready: str, env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{args[:4]} exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(url + ready, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise TimeoutError(f"{url} did not start")
        yield
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _measure(
    client: httpx.Client, url: str, body: dict[str, object], text_of: Callable[[bytes], str]
) -> Sample:
    start = time.perf_counter()
    first = last = 0.0
    tokens = 0
    with client.stream("POST", url, json=body) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line:
                continue
            if text_of(line.encode()):
                now = time.perf_counter()
                first = first or now
                last = now
                tokens += 1
    end = time.perf_counter()
    decode = (tokens - 1) / (last - first) if tokens > 1 and last > first else 0.0
    return Sample(ttft_s=first - start, decode_tps=decode, e2e_tps=tokens / (end - start), tokens=tokens)


def _ollama_text(line: bytes) -> str:
    obj = json.loads(line)
    if "error" in obj:
        raise RuntimeError(obj["error"])
    return str(obj.get("response") or (obj.get("message") or {}).get("content") or "")


def _sse_text(line: bytes) -> str:
    if not line.startswith(b"data: ") or line.strip() == b"data: [DONE]":
        return ""
    choice = json.loads(line[6:])["choices"][0]
    return str(choice.get("text") or (choice.get("delta") or {}).get("content") or "")


def harvis_request(scenario: str, num_predict: int) -> tuple[str, dict[str, object]]:
    options = {"temperature": 0, "num_predict": num_predict, "repeat_penalty": 1.1, "seed": 1}
    if scenario == "completion":
        return "/api/generate", {"model": "bench", "raw": True, "prompt": COUNT_PROMPT, "options": options}
    return "/api/chat", {"model": "bench", "messages": CHAT, "options": options}


def llama_server_request(scenario: str, num_predict: int) -> tuple[str, dict[str, object]]:
    common = {
        "model": "bench",
        "stream": True,
        "temperature": 0,
        "max_tokens": num_predict,
        "repeat_penalty": 1.1,
        "seed": 1,
    }
    if scenario == "completion":
        return "/v1/completions", {**common, "prompt": COUNT_PROMPT}
    return "/v1/chat/completions", {**common, "messages": CHAT}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize(name: str, samples: dict[str, list[Sample]]) -> dict[str, object]:
    out: dict[str, object] = {"scenario": name}
    for side, rows in samples.items():
        out[side] = {
            "ttft_ms_p50": 1000 * statistics.median(s.ttft_s for s in rows),
            "ttft_ms_p95": 1000 * pct([s.ttft_s for s in rows], 0.95),
            "decode_tps_p50": statistics.median(s.decode_tps for s in rows),
            "decode_tps_p5": pct([s.decode_tps for s in rows], 0.05),
            "e2e_tps_p50": statistics.median(s.e2e_tps for s in rows),
            "tokens_p50": statistics.median(s.tokens for s in rows),
        }
    h, b = out["harvis"], out["llama_cpp_server"]
    assert isinstance(h, dict) and isinstance(b, dict)
    out["ratio_decode_tps"] = h["decode_tps_p50"] / b["decode_tps_p50"]
    out["ratio_e2e_tps"] = h["e2e_tps_p50"] / b["e2e_tps_p50"]
    out["ratio_ttft"] = h["ttft_ms_p50"] / b["ttft_ms_p50"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2:135m", help="catalogue name (default smollm2:135m)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=20, help="rounds per scenario (each hits both servers)")
    parser.add_argument("--num-predict", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--scenarios", default="completion,chat")
    args = parser.parse_args()

    gguf = catalog.resolve(args.model, Settings().resolved_models_dir)
    logs = Path(tempfile.mkdtemp(prefix="bench-llm-node-"))
    env = {
        **os.environ,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "HARVIS_NODE__EXTRA_MODELS": f"bench={gguf}",
        "HARVIS_NODE__NUM_CTX": str(args.n_ctx),
    }
    hp, lp = free_port(), free_port()
    harvis_url, llama_url = f"http://127.0.0.1:{hp}", f"http://127.0.0.1:{lp}"
    harvis_cmd = [
        sys.executable,
        "-m",
        "harvis.cli",
        "llm-node",
        "--port",
        str(hp),
        "--threads",
        str(args.threads),
    ]
    llama_cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        "bench",
        "--host",
        "127.0.0.1",
        "--port",
        str(lp),
        "--n_threads",
        str(args.threads),
        "--n_threads_batch",
        str(args.threads),
        "--n_ctx",
        str(args.n_ctx),
        "--verbose",
        "False",
    ]
    print(
        f"model {args.model} ({gguf}), threads {args.threads}, num_predict {args.num_predict}, "
        f"runs {args.runs}, OMP_WAIT_POLICY={env['OMP_WAIT_POLICY']}, logs {logs}"
    )
    results = []
    with (
        server(harvis_cmd, harvis_url, "/", env, logs / "harvis.log"),
        server(llama_cmd, llama_url, "/v1/models", env, logs / "llama_cpp_server.log"),
        httpx.Client(timeout=600) as client,
    ):

        def run_harvis(scenario: str) -> Sample:
            path, body = harvis_request(scenario, args.num_predict)
            return _measure(client, harvis_url + path, body, _ollama_text)

        def run_llama_server(scenario: str) -> Sample:
            path, body = llama_server_request(scenario, args.num_predict)
            return _measure(client, llama_url + path, body, _sse_text)

        sides = {"harvis": run_harvis, "llama_cpp_server": run_llama_server}
        for scenario in args.scenarios.split(","):
            for run in sides.values():  # warm-up: load the model, fill caches
                run(scenario)
            samples: dict[str, list[Sample]] = {name: [] for name in sides}
            for i in range(args.runs):
                order = list(sides) if i % 2 == 0 else list(reversed(sides))
                for name in order:
                    samples[name].append(sides[name](scenario))
            summary = summarize(scenario, samples)
            results.append(summary)
            print(json.dumps(summary, indent=2))
    print(
        "\n| scenario | side | TTFT p50 / p95 (ms) | decode tok/s p50 (p5) | end-to-end tok/s p50 | tokens |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        for side in ("harvis", "llama_cpp_server"):
            s = r[side]
            assert isinstance(s, dict)
            print(
                f"| {r['scenario']} | {side} | {s['ttft_ms_p50']:.1f} / {s['ttft_ms_p95']:.1f} | "
                f"{s['decode_tps_p50']:.1f} ({s['decode_tps_p5']:.1f}) | {s['e2e_tps_p50']:.1f} | "
                f"{s['tokens_p50']:.0f} |"
            )
        print(
            f"| {r['scenario']} | **harvis / llama_cpp.server** | {r['ratio_ttft']:.2f}× TTFT | "
            f"{r['ratio_decode_tps']:.2f}× | {r['ratio_e2e_tps']:.2f}× | |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
