"""Does the llm-node keep a conversation's prompt evaluated between turns? Prompt-eval time of
turn 1, 2, 3 of one voice conversation (the voice system prompt, the catalog default model
Qwen2.5-Coder-1.5B) on a real `harvis llm-node`, each turn sent the history as Harvis sends
it; and the same turns when an unrelated conversation ran in between (its prompt evicted the
cached prefix), which is what a turn costs without reuse.

Command (repo root):
  PYTHONPATH=src .venv/bin/python benchmarks/prefix_reuse.py --threads 2
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import httpx

from harvis.config import PipelineSettings

QUESTIONS = ["What color is the sky on a clear day?", "And at sunset?", "Why is that?"]
OTHER = [{"role": "user", "content": "Name three kinds of cheese from France, please."}]


def chat(client: httpx.Client, model: str, messages: list[dict[str, Any]]) -> tuple[str, float, int]:
    body = {
        "model": model,
        "messages": messages,
        "stream": False,
        "options": {"num_predict": 40, "temperature": 0},
    }
    data = client.post("/api/chat", json=body).json()
    return data["message"]["content"], data["prompt_eval_duration"] / 1e6, data["prompt_eval_count"]


def conversation(client: httpx.Client, model: str, evict: bool) -> list[tuple[float, int]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": PipelineSettings().system_prompt}]
    out = []
    for question in QUESTIONS:
        if evict:
            chat(client, model, OTHER)
        messages.append({"role": "user", "content": question})
        answer, ms, count = chat(client, model, messages)
        messages.append({"role": "assistant", "content": answer})
        out.append((ms, count))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.llm_node import TOOL_MODEL, start_llm_node, tool_models_dir

    node = start_llm_node(threads=args.threads, extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())})
    try:
        with httpx.Client(base_url=node.url, timeout=300) as client:
            chat(client, TOOL_MODEL, OTHER)  # load the model
            runs = {"kept": [], "evicted": []}
            for _ in range(args.runs):
                for mode in runs:
                    runs[mode].append(conversation(client, TOOL_MODEL, evict=mode == "evicted"))
    finally:
        node.stop()
    print("| turn | prompt tokens | prompt eval ms p50, prefix kept | p50, prefix evicted |")
    print("|---|---|---|---|")
    for i in range(len(QUESTIONS)):
        kept = statistics.median(r[i][0] for r in runs["kept"])
        evicted = statistics.median(r[i][0] for r in runs["evicted"])
        print(f"| {i + 1} | {runs['kept'][0][i][1]} | {kept:.0f} | {evicted:.0f} |")


if __name__ == "__main__":
    main()
