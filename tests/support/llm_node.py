"""Start a real `harvis llm-node` process for tests (reused by the router and backend tests)."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.processes import HARVIS, Proc, free_port, spawn

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
