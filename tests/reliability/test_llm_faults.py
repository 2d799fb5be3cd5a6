"""LLM nodes that die: during a model load, mid-stream, before a stream. Real processes: two
`harvis llm-node`s behind the router of one real `harvis serve` (LiteLLM-shaped config)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import login, signup, start_backend
from tests.support.llm_node import start_llm_node
from tests.support.processes import Proc, free_port, wait_until
from tests.support.reliability import chat_events, router_config, streamed_text

pytestmark = pytest.mark.slow
MODEL = "smollm2:135m"
# Long enough that a chat request is told apart from health probes by its size.
LONG = (
    "Write a long story about a dragon who learns to bake bread in a small mountain village. "
    "Describe the bakery, the villagers, the ovens, the flour and every failed loaf in detail. "
)


class Nodes:
    """Two node processes on fixed ports, so a killed one comes back at the same address."""

    def __init__(self, log_dir: Path) -> None:
        self.ports = [free_port(), free_port()]
        self.log_dir = log_dir
        self.procs: list[Proc | None] = [None, None]
        self.starts = [0, 0]

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    def up(self, i: int) -> Proc:
        proc = self.procs[i]
        if proc is None or proc.popen.poll() is not None:
            self.starts[i] += 1
            proc = start_llm_node(
                port=self.ports[i], threads=1, log_path=self.log_dir / f"node{i}-{self.starts[i]}.log"
            )
            self.procs[i] = proc
        return proc

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None:
            proc.kill()

    def stop(self) -> None:
        for proc in self.procs:
            if proc is not None:
                proc.stop()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    pair = Nodes(tmp_path_factory.mktemp("nodes"))
    try:
        pair.up(0)
        pair.up(1)
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="module")
def backend(nodes: Nodes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    data = tmp_path_factory.mktemp("faults")
    config = router_config(data / "router.yaml", [(MODEL, nodes.url(0)), (MODEL, nodes.url(1))])
    env = {
        "HARVIS_LLM_CONFIG": str(config),
        "HARVIS_LLM__COOLDOWN_S": "2",
        "HARVIS_LLM__PROBE_INTERVAL_S": "1",
        "HARVIS_LLM__NUM_RETRIES": "2",
    }
    proc = start_backend(data / "data", env=env)
    try:
        signup(proc.url, "faulty")
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def client(backend: Proc) -> Iterator[httpx.Client]:
    with closing(login(backend.url, "faulty")) as c:
        yield c


def loading(proc: Proc) -> bool:
    """llama.cpp has mapped the GGUF but the node has not logged the end of the load."""
    try:
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return ".gguf" in maps and "loaded smollm2" not in proc.log()


def saved_pair(client: httpx.Client, events: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], ...]:
    ids = events[0][1]
    messages = client.get(f"/api/sessions/{ids['session_id']}/messages").json()
    by_id = {m["id"]: m for m in messages}
    return by_id[ids["user_message_id"]], by_id[ids["assistant_message_id"]]


def ttft_count(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(m.group(1)) for m in re.finditer(r"harvis_llm_node_ttft_seconds_count\{[^}]*\} (\S+)", text)
    )


def test_node_killed_during_model_load_is_retried_on_the_other_node(
    nodes: Nodes, client: httpx.Client
) -> None:
    payload = {"message": LONG, "options": {"num_predict": 8, "seed": 1}}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(chat_events, client, payload, timeout=240)

        def loading_node() -> tuple[int] | None:
            return next(((i,) for i in (0, 1) if loading(nodes.up(i))), None)

        (victim,) = wait_until(loading_node, timeout=180, what="a node starts loading the model", every=0.005)
        proc = nodes.up(victim)
        nodes.kill(victim)
        events = answer.result(timeout=300)
    assert "loaded smollm2" not in proc.log(), "the load finished before the kill: not a kill during a load"
    names = [n for n, _ in events]
    assert names[0] == "session" and names[-1] == "done", events[-1]
    done = events[-1][1]
    assert done["served_by"] == f"{MODEL}@{nodes.url(1 - victim)}", done
    question, saved = saved_pair(client, events)
    assert question["content"] == LONG and question["status"] == "complete"
    assert saved["status"] == "complete" and saved["content"] == streamed_text(events)


def test_node_killed_mid_stream_ends_with_an_error_and_keeps_the_partial_answer(
    nodes: Nodes, client: httpx.Client
) -> None:
    procs = [nodes.up(0), nodes.up(1)]
    before = [ttft_count(p.url) for p in procs]
    killed: list[int] = []

    def kill_serving_node(name: str, _data: dict[str, Any], events: list[tuple[str, dict[str, Any]]]) -> None:
        if name == "token" and not killed and sum(1 for n, _ in events if n == "token") >= 5:
            serving = [i for i, p in enumerate(procs) if ttft_count(p.url) > before[i]]
            assert len(serving) == 1, f"cannot tell which node serves: {serving}"
            killed.append(serving[0])
            nodes.kill(serving[0])

    events = chat_events(
        client, {"message": LONG, "options": {"num_predict": 800}}, timeout=120, on_event=kill_serving_node
    )
    assert killed, "the answer ended before five tokens"
    name, error = events[-1]
    assert name == "error", [n for n, _ in events][-3:]
    assert error["code"] == "stream_broken" and error["message"]
    # Nothing is retried after the first token: no text is sent twice, and what was sent is saved.
    question, saved = saved_pair(client, events)
    assert question["status"] == "complete"
    assert saved["status"] == "error" and saved["error"]
    assert saved["content"] == streamed_text(events) and saved["content"]
    assert error["message_id"] == saved["id"]


def test_node_killed_before_a_stream_is_skipped_for_the_other(nodes: Nodes, client: httpx.Client) -> None:
    nodes.up(0)
    nodes.up(1)
    # The node that has the model loaded is the router's first choice: kill that one.
    warm = [i for i in (0, 1) if "loaded smollm2" in nodes.up(i).log()]
    victim = warm[-1] if warm else 0
    nodes.kill(victim)
    for attempt in range(2):  # the first may hit the dead node and be retried; both must complete
        events = chat_events(
            client, {"message": f"Ping {attempt}.", "options": {"num_predict": 4}}, timeout=240
        )
        assert events[-1][0] == "done", events[-1]
        assert events[-1][1]["served_by"] == f"{MODEL}@{nodes.url(1 - victim)}"
        question, saved = saved_pair(client, events)
        assert question["status"] == "complete" and saved["status"] == "complete"


def test_all_nodes_down_is_a_clear_503_and_the_backend_recovers_by_itself(
    nodes: Nodes, backend: Proc, client: httpx.Client
) -> None:
    nodes.kill(0)
    nodes.kill(1)
    events = chat_events(client, {"message": "Are you there?"}, timeout=60)
    name, error = events[-1]
    assert name == "error" and error["code"] in ("llm_unavailable", "no_capacity"), error
    # It says why, never where: the nodes' addresses stay out of what a client sees.
    assert "cannot connect" in error["message"] or "deployment" in error["message"], error
    assert "127.0.0.1" not in error["message"], error
    question, saved = saved_pair(client, events)
    assert question["content"] == "Are you there?" and saved["status"] == "error" and saved["error"]

    r = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "x"}]},
        timeout=60,
    )
    assert r.status_code == 503 and r.json()["error"]["message"], r.text
    if "cooling" in r.json()["error"]["message"]:
        assert int(r.headers["retry-after"]) >= 1
    ready = httpx.get(f"{backend.url}/health/ready", timeout=30)
    assert ready.status_code == 503
    llm = ready.json()["checks"]["llm"]
    assert llm["ok"] is False and "no reachable" in llm["detail"]
    assert all(not n["ok"] and n["detail"] for n in llm["nodes"])

    nodes.up(0)
    nodes.up(1)
    wait_until(
        lambda: httpx.get(f"{backend.url}/health/ready", timeout=30).status_code == 200,
        timeout=60,
        what="/health/ready answers 200 again",
    )
    events = wait_until(
        lambda: (
            (
                e := chat_events(
                    client, {"message": "Hello again.", "options": {"num_predict": 4}}, timeout=240
                )
            )
            and e[-1][0] == "done"
            and e
        ),
        timeout=120,
        what="a chat completes again",
        every=1,
    )
    assert events[-1][1]["status"] == "complete"
