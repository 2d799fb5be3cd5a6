"""Barge-in stops the LLM for real, end to end through a real `harvis llm-node` process: the
backend is pointed at the node (OLLAMA_URL), the user talks over an answer on WS /api/voice/ws
(and cancels one on /v1/realtime with response.cancel), and the node's own counters show its
generation ended as cancelled, far short of the answer's token limit, while /api/ps keeps the
model resident for the next turn.

The time from the barge-in to the node's generation ending is printed (`-s`), not asserted."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.backend import login, running_backend, signup, token_of
from tests.support.llm_node import SMALL_MODEL, llm_node
from tests.support.processes import Proc
from tests.support.speech import api_key
from tests.voice.test_voice_ws import read_until, say, socket

pytestmark = pytest.mark.slow
# The voice answer's num_predict (PipelineSettings.max_answer_tokens), set high so that the answer
# cannot run to its end before the barge-in is heard, however slow the shared machine makes speech.
MAX_TOKENS = 1500
STORY = "Tell me a long story about a brave dragon."


@pytest.fixture(scope="module")
def node() -> Iterator[Proc]:
    with llm_node() as proc:
        yield proc


@pytest.fixture(scope="module")
def node_backend(tmp_path_factory: pytest.TempPathFactory, node: Proc) -> Iterator[Proc]:
    env = {
        "OLLAMA_URL": node.url,
        "HARVIS_SPEECH__PRELOAD": "true",
        "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
        "HARVIS_PIPELINE__MAX_ANSWER_TOKENS": str(MAX_TOKENS),
    }
    with running_backend(tmp_path_factory.mktemp("barge-in-backend"), env=env, timeout=300) as proc:
        signup(proc.url, "carol")
        yield proc


@pytest.fixture(scope="module")
def carol(node_backend: Proc) -> Iterator[httpx.Client]:
    client = login(node_backend.url, "carol", timeout=300)
    yield client
    client.close()


def node_counters(node: Proc) -> dict[str, float]:
    """The node's generation and token counters for the model, from one /metrics scrape."""
    text = httpx.get(node.url + "/metrics", timeout=30).text
    out = {"cancelled": 0.0, "finished": 0.0, "completion_tokens": 0.0}
    for line in text.splitlines():
        m = re.match(r"^(harvis_llm_node_\w+)\{(.*)\} (\S+)$", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        if labels.get("model") != SMALL_MODEL:
            continue
        value = float(m.group(3))
        if m.group(1) == "harvis_llm_node_generations_total":
            out["cancelled" if labels["done_reason"] == "cancelled" else "finished"] += value
        elif m.group(1) == "harvis_llm_node_tokens_total" and labels["kind"] == "completion":
            out["completion_tokens"] += value
    return out


def until_cancelled(node: Proc, before: dict[str, float], since: float) -> tuple[dict[str, float], float]:
    """Poll the node until its generation ended as cancelled; the counters then, and the
    seconds from `since` (the barge-in) to the first scrape that showed it."""
    for _ in range(3000):  # bounded: ~60 s at most
        now = node_counters(node)
        if now["cancelled"] > before["cancelled"]:
            return now, time.monotonic() - since
        time.sleep(0.02)
    raise AssertionError(f"the node never reported a cancelled generation: {node_counters(node)}")


def resident(node: Proc) -> list[str]:
    return [m["name"] for m in httpx.get(node.url + "/api/ps", timeout=30).json()["models"]]


def test_talking_over_an_answer_stops_the_generation_at_the_node(
    node: Proc, node_backend: Proc, carol: httpx.Client, question_dir: Path, story_question: bytes
) -> None:
    seen: list[dict[str, Any]] = []
    with socket(node_backend, token_of(carol)) as ws:
        read_until(ws, "ready", seen)
        ws.send(json.dumps({"type": "start"}))
        say(ws, story_question)
        read_until(ws, "session", seen)
        before = node_counters(node)
        read_until(ws, "audio", seen)
        tokens_seen = sum(1 for e in seen if e["type"] == "token")
        barged_at = time.monotonic()
        say(ws, story_question, silence_s=0)  # the user talks over the answer
        after, stop_s = until_cancelled(node, before, barged_at)
        read_until(ws, "interrupted", seen)
    generated = after["completion_tokens"] - before["completion_tokens"]
    print(
        f"\nvoice ws: node stopped {stop_s * 1000:.0f} ms after the barge-in audio began; "
        f"{generated:.0f} tokens generated, {tokens_seen} had reached the client at the barge-in"
    )
    assert after["finished"] == before["finished"], "the generation ran to its end"
    assert 0 < generated < MAX_TOKENS
    assert SMALL_MODEL in resident(node)  # stopped, not unloaded: the next turn pays no load


async def test_response_cancel_on_v1_realtime_stops_the_generation_at_the_node(
    node: Proc, node_backend: Proc, carol: httpx.Client
) -> None:
    key = await asyncio.to_thread(api_key, carol, "barge-in")
    client = openai.AsyncOpenAI(api_key=key, base_url=node_backend.url + "/v1", max_retries=0)
    async with client.realtime.connect(model=SMALL_MODEL) as conn:
        await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})  # type: ignore[arg-type]
        async with asyncio.timeout(240):
            async for event in conn:
                assert event.type != "error", event
                if event.type == "session.updated":
                    break
            await conn.conversation.item.create(
                item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": STORY}]}
            )
            before = await asyncio.to_thread(node_counters, node)
            await conn.response.create(response={"instructions": "Tell long, detailed stories."})
            async for event in conn:
                assert event.type != "error", event
                if event.type == "response.output_audio.delta":
                    break
            cancelled_at = time.monotonic()
            await conn.response.cancel()
            after, stop_s = await asyncio.to_thread(until_cancelled, node, before, cancelled_at)
            async for event in conn:
                if event.type == "response.done":
                    assert event.response.status == "cancelled"
                    break
    generated = after["completion_tokens"] - before["completion_tokens"]
    print(
        f"\n/v1/realtime: node stopped {stop_s * 1000:.0f} ms after response.cancel; "
        f"{generated:.0f} tokens generated in all"
    )
    assert after["finished"] == before["finished"], "the generation ran to its end"
    assert 0 < generated < MAX_TOKENS
    assert SMALL_MODEL in await asyncio.to_thread(resident, node)
