"""Real servers for the router's integration tests: llm-nodes and llama_cpp.server."""

from __future__ import annotations

import socket
import sys
import tempfile
from pathlib import Path

import httpx

from harvis.models.catalog import resolve
from tests.support.processes import Proc, free_port, spawn

MODEL = "smollm2:135m"


def two_loopback_hosts() -> tuple[str, str]:
    """127.0.0.11 and 127.0.0.12 (two "machines"); 127.0.0.1 twice where those do not bind."""
    try:
        for host in ("127.0.0.11", "127.0.0.12"):
            with socket.socket() as s:
                s.bind((host, 0))
        return "127.0.0.11", "127.0.0.12"
    except OSError:
        return "127.0.0.1", "127.0.0.1"


def start_openai_server(host: str, api_key: str, alias: str = "gpt-4o") -> Proc:
    """llama-cpp-python's own OpenAI-compatible server on the bundled GGUF, 1 thread."""
    gguf = resolve(MODEL, Path(tempfile.gettempdir()))
    port = free_port(host)
    args = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--n_threads",
        "1",
        "--n_ctx",
        "1024",
        "--host",
        host,
        "--port",
        str(port),
        "--api_key",
        api_key,
    ]
    log = Path(tempfile.mkdtemp(prefix="harvis-openai-")) / "server.log"
    # /v1/models answers 401 without the key: any answer below 500 means it is up.
    return spawn(args, base_url=f"http://{host}:{port}", log_path=log, ready_path="/v1/models", timeout=90)


def set_keep_alive(url: str, keep_alive: str | int) -> None:
    """Load (or with 0, unload) the model on one node directly, as an operator would."""
    body: dict[str, object] = {"model": MODEL, "messages": [], "keep_alive": keep_alive, "stream": False}
    r = httpx.post(f"{url}/api/chat", json=body, timeout=120)
    r.raise_for_status()


def loaded_on(url: str) -> list[str]:
    return [m["name"] for m in httpx.get(f"{url}/api/ps", timeout=10).json()["models"]]
