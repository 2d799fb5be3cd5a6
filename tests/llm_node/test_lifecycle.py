"""Model residency seen through /api/ps, a client that leaves mid-answer, and a full line."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.support.llm_node import SMALL_MODEL, llm_node, metric
from tests.support.processes import wait_until

COUNTING = {
    "model": SMALL_MODEL,
    "raw": True,
    "prompt": "1, 2, 3, 4, 5, 6, 7, 8,",
    "options": {"temperature": 0, "num_predict": 1500},
}


def loaded(client: httpx.Client) -> dict[str, dict[str, object]]:
    return {m["name"]: m for m in client.get("/api/ps").json()["models"]}


def expires(entry: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(entry["expires_at"]).replace("Z", "+00:00"))


def test_load_unload_and_keep_alive_in_ps(http: httpx.Client) -> None:
    gone = http.post("/api/generate", json={"model": SMALL_MODEL, "keep_alive": 0})
    assert gone.json()["done_reason"] == "unload" and gone.json()["response"] == ""
    assert SMALL_MODEL not in loaded(http)

    load = http.post("/api/chat", json={"model": SMALL_MODEL, "messages": [], "keep_alive": "1h30m"}).json()
    assert load["done"] is True and load["done_reason"] == "load" and load["message"]["content"] == ""
    left = expires(loaded(http)[SMALL_MODEL]) - datetime.now(UTC)
    assert timedelta(minutes=85) < left <= timedelta(minutes=90)

    http.post(
        "/api/generate",
        json={
            "model": SMALL_MODEL,
            "prompt": "hi",
            "stream": False,
            "keep_alive": -1,
            "options": {"num_predict": 1},
        },
    )
    assert expires(loaded(http)[SMALL_MODEL]).year > 2200  # forever, as Ollama shows it

    unload = http.post("/api/chat", json={"model": SMALL_MODEL, "messages": [], "keep_alive": 0}).json()
    assert unload["done_reason"] == "unload"
    assert SMALL_MODEL not in loaded(http)


def test_model_expires_in_the_background(http: httpx.Client) -> None:
    r = http.post(
        "/api/generate",
        json={
            "model": SMALL_MODEL,
            "prompt": "hi",
            "stream": False,
            "keep_alive": "300ms",
            "options": {"num_predict": 1},
        },
    )
    assert r.json()["load_duration"] >= 0
    wait_until(
        lambda: SMALL_MODEL not in loaded(http),
        timeout=30,
        what="the 300ms keep-alive to unload the model",
        every=0.05,
    )
    again = http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 1}},
    ).json()
    assert again["load_duration"] > 0  # it had to load again
    assert SMALL_MODEL in loaded(http)


def test_disconnect_stops_generation(http: httpx.Client) -> None:
    before = metric(http, "harvis_llm_node_generations_total", model=SMALL_MODEL, done_reason="cancelled")
    tokens_before = metric(http, "harvis_llm_node_tokens_total", model=SMALL_MODEL, kind="completion")
    with (
        httpx.Client(base_url=str(http.base_url), timeout=60) as leaver,
        leaver.stream("POST", "/api/generate", json=COUNTING) as r,
    ):
        lines = r.iter_lines()
        for _ in range(3):
            assert json.loads(next(lines))["done"] is False
    # The connection is closed now; the node must notice and stop the token loop.
    wait_until(
        lambda: (
            metric(http, "harvis_llm_node_generations_total", model=SMALL_MODEL, done_reason="cancelled")
            == before + 1
        ),
        timeout=30,
        what="the generation to be cancelled",
        every=0.05,
    )
    tokens_after = metric(http, "harvis_llm_node_tokens_total", model=SMALL_MODEL, kind="completion")
    generated = tokens_after - tokens_before
    assert generated < 1500 / 2, f"{generated} tokens: the loop ran on after the client left"
    nxt = http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 2}},
        timeout=30,
    )
    assert nxt.status_code == 200 and nxt.json()["done"] is True


async def test_full_line_gets_503_and_waiters_can_leave() -> None:
    with llm_node(max_queue=1) as node:
        async with httpx.AsyncClient(base_url=node.url, timeout=120) as client:
            async with client.stream("POST", "/api/generate", json=COUNTING) as running:
                assert running.status_code == 200
                lines = running.aiter_lines()
                assert json.loads(await anext(lines))["done"] is False  # holds the slot now
                waiter = asyncio.create_task(client.post("/api/generate", json={**COUNTING, "stream": False}))
                for _ in range(400):  # bounded poll: the waiter has taken its place in line
                    text = (await client.get("/metrics")).text
                    if "harvis_llm_node_queue_waiting 1.0" in text:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the second request never queued")
                full = await client.post(
                    "/api/chat", json={"model": SMALL_MODEL, "messages": [{"role": "user", "content": "x"}]}
                )
                assert full.status_code == 503
                assert "maximum pending requests exceeded" in full.json()["error"]
                assert int(full.headers["retry-after"]) >= 1
                waiter.cancel()  # the queued client leaves: its place frees up
                for _ in range(400):
                    text = (await client.get("/metrics")).text
                    if "harvis_llm_node_queue_waiting 0.0" in text:
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise AssertionError("the cancelled waiter kept its place in line")
            assert "harvis_llm_node_rejected_total 1.0" in (await client.get("/metrics")).text


def test_bigger_num_ctx_reloads_with_that_context(http: httpx.Client) -> None:
    http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 1}},
    )
    before = int(loaded(http)[SMALL_MODEL]["context_length"])  # type: ignore[call-overload]
    bigger = http.post(
        "/api/generate",
        json={
            "model": SMALL_MODEL,
            "prompt": "hi",
            "stream": False,
            "options": {"num_predict": 1, "num_ctx": before * 2},
        },
    ).json()
    assert bigger["load_duration"] > 0
    assert loaded(http)[SMALL_MODEL]["context_length"] == before * 2
    again = http.post(
        "/api/generate",
        json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 1}},
    ).json()
    assert again["load_duration"] == 0  # a smaller request fits the loaded context: no reload


def test_preload_loads_before_ready() -> None:
    with (
        llm_node(extra_env={"HARVIS_NODE__PRELOAD": SMALL_MODEL}) as node,
        httpx.Client(base_url=node.url, timeout=60) as client,
    ):

        def ready() -> bool:
            r = client.get("/health/ready")
            assert r.status_code in (200, 503) and ("loading" in r.text or r.status_code == 200)
            return r.status_code == 200

        wait_until(ready, timeout=30, what="the preloaded model to be ready", every=0.05)
        assert SMALL_MODEL in loaded(client)
        first = client.post(
            "/api/generate",
            json={"model": SMALL_MODEL, "prompt": "hi", "stream": False, "options": {"num_predict": 1}},
        ).json()
        assert first["load_duration"] == 0  # nobody waits for a load after ready
