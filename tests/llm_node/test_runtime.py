"""The llama.cpp wrapper in-process with the real model: prompt shortening and cancellation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvis.llm.node.gguf_meta import read_gguf
from harvis.llm.node.requests import Job, Sampling
from harvis.llm.node.runtime import LlamaRuntime
from harvis.models import catalog


@pytest.fixture(scope="module")
def runtime() -> Iterator[LlamaRuntime]:
    path = catalog.resolve("smollm2:135m", Path("/nonexistent"))
    rt = LlamaRuntime(path, n_ctx=128, threads=1, chat_template=read_gguf(path).chat_template)
    try:
        yield rt
    finally:
        rt.close()


def test_long_history_drops_oldest_turns_but_keeps_system_and_last(runtime: LlamaRuntime) -> None:
    history = [{"role": "system", "content": "SYSTEM-RULES"}]
    for i in range(30):
        history += [
            {"role": "user", "content": f"question {i} " * 3},
            {"role": "assistant", "content": f"answer {i}"},
        ]
    history.append({"role": "user", "content": "LAST-QUESTION"})
    job = Job(kind="chat", model="m", messages=history, sampling=Sampling(num_predict=16))
    tokens = runtime.prompt_tokens(job)
    assert len(tokens) <= 128 - 16
    text = runtime._llama.detokenize(tokens, special=True).decode()
    assert "SYSTEM-RULES" in text and "LAST-QUESTION" in text
    assert "question 0 " not in text  # the oldest turns went first
    assert text.endswith("<|im_start|>assistant\n")


def test_cancel_flag_stops_the_loop_within_a_token(runtime: LlamaRuntime) -> None:
    cancel = threading.Event()
    pieces: list[str] = []

    def emit(text: str) -> None:
        pieces.append(text)
        if len(pieces) == 3:
            cancel.set()

    job = Job(
        kind="generate",
        model="m",
        raw_prompt="1, 2, 3, 4,",
        sampling=Sampling(temperature=0, num_predict=100),
    )
    stats = runtime.generate(job, runtime.prompt_tokens(job), cancel, emit)
    assert stats.done_reason == "cancelled"
    assert stats.eval_count <= 4 and len(pieces) == 3
