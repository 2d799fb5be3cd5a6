"""Start a real `harvis llm-node` process for tests (reused by the router and backend tests)."""

from __future__ import annotations

import json
import re
import socket
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.processes import HARVIS, Proc, free_port, spawn, wait_until

SMALL_MODEL = "smollm2:135m"


def start_llm_node(
    host: str = "127.0.0.1",
    port: int | None = None,
    threads: int = 1,
    extra_env: Mapping[str, str] | None = None,
    *,
    max_queue: int | None = None,
    log_path: Path | None = None,
) -> Proc:
    """A running node answering on http://host:port (the model loads on first use).

    Stop it with ``proc.stop()`` in a finally, or use ``llm_node(...)``.
    """
    port = port or free_port(host)
    args = [*HARVIS, "llm-node", "--host", host, "--port", str(port), "--threads", str(threads)]
    if max_queue is not None:
        args += ["--max-queue", str(max_queue)]
    log_path = log_path or Path(tempfile.mkdtemp(prefix="harvis-llm-node-")) / f"node-{port}.log"
    return spawn(
        args,
        base_url=f"http://{host}:{port}",
        log_path=log_path,
        ready_path="/",
        env=dict(extra_env or {}),
        timeout=60.0,
    )


@contextmanager
def llm_node(
    host: str = "127.0.0.1",
    port: int | None = None,
    threads: int = 1,
    extra_env: Mapping[str, str] | None = None,
    *,
    max_queue: int | None = None,
) -> Iterator[Proc]:
    proc = start_llm_node(host, port, threads, extra_env, max_queue=max_queue)
    try:
        yield proc
    finally:
        proc.stop()


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """One sample of the node's /metrics (0 when absent)."""
    text = client.get("/metrics").text
    for line in text.splitlines():
        m = re.match(r"^([a-zA-Z_:]+)(?:\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return 0.0


def tokens_after_leaving(
    node: httpx.Client, url: str, path: str, body: dict[str, Any], headers: Mapping[str, str] = {}
) -> float:
    """POST a non-streamed `body` to url+path over a raw socket, hang up as soon as the node has
    produced its first token, wait (bounded) until the node counts that generation as cancelled,
    and return how many completion tokens it generated in all."""
    cancelled = {"model": SMALL_MODEL, "done_reason": "cancelled"}
    before = metric(node, "harvis_llm_node_generations_total", **cancelled)
    tokens_before = metric(node, "harvis_llm_node_tokens_total", model=SMALL_MODEL, kind="completion")
    first_tokens = metric(node, "harvis_llm_node_ttft_seconds_count", model=SMALL_MODEL)
    data = json.dumps(body).encode()
    where = urlsplit(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Content-Type": "application/json"}.items())
    request = f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\n{head}Content-Length: {len(data)}\r\n\r\n"
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80), timeout=30) as sock:
        sock.sendall(request.encode() + data)
        wait_until(
            lambda: metric(node, "harvis_llm_node_ttft_seconds_count", model=SMALL_MODEL) > first_tokens,
            timeout=120,
            what="the node to start answering",
            every=0.05,
        )
    wait_until(
        lambda: metric(node, "harvis_llm_node_generations_total", **cancelled) == before + 1,
        timeout=60,
        what="the generation to be cancelled after its client left",
        every=0.05,
    )
    return metric(node, "harvis_llm_node_tokens_total", model=SMALL_MODEL, kind="completion") - tokens_before


# A model whose chat template renders tools (Qwen2.5's Hermes-style <tool_call> blocks).
TOOL_MODEL = "qwen2.5-coder:1.5b"


def tool_models_dir() -> Path:
    """A model cache holding TOOL_MODEL, assembled once from its installed parts (no network)."""
    from harvis.models import catalog
    from harvis.models.cache import fetch

    folder = Path(tempfile.gettempdir()) / "harvis-test-models"
    try:
        catalog.resolve(TOOL_MODEL, folder)
    except catalog.ModelMissing:
        try:
            fetch(TOOL_MODEL, folder)
        except Exception as exc:
            raise AssertionError(
                f"{TOOL_MODEL} is needed for the tool tests and could not be assembled: {exc}"
            ) from exc
    return folder
