"""Bounded load: text chats through the router to two real LLM nodes and concurrent voice
turns, more than the nodes can take at once. The property (never timings): every request
completes or is told "busy" (503 with Retry-After, or the SSE `no_capacity` error); none
fails otherwise and none hangs. benchmarks/load.py runs the same with figures."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.load import load_stack, run_load, summarize
from tests.support.speech import espeak_wav

pytestmark = pytest.mark.slow


def test_overload_is_answered_or_refused_with_retry_after_never_hung(tmp_path: Path) -> None:
    audio = espeak_wav("What is the capital of France?", tmp_path / "q.wav").read_bytes()
    # One request per node at a time and a short queue: 10 at once must overflow.
    with load_stack(tmp_path, max_parallel=1, queue_wait_s=1.0) as stack:
        outcomes = asyncio.run(
            run_load(
                stack.backend.url,
                stack.token,
                chats=8,
                voices=2,
                concurrency=10,
                audio=audio,
                max_tokens=8,
                timeout_s=240,
            )
        )
        assert stack.backend.popen.poll() is None
    summary = summarize(outcomes)
    assert len(outcomes) == 10
    for kind, figures in summary.items():
        assert figures["hang"] == 0, (kind, figures)
        assert figures["error"] == 0, (kind, figures)
        assert figures["busy_without_retry_after"] == 0, (kind, figures)
        assert figures["ok"] + figures["busy"] == figures["requests"], (kind, figures)
    assert summary["chat"]["ok"] >= 1 and summary["voice"]["ok"] + summary["voice"]["busy"] == 2
