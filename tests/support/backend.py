"""Start a real `harvis serve` process on a temp data dir, and get signed-in HTTP clients."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import HARVIS, REPO, Proc, free_port, stop_pid, wait_http

DEFAULT_PASSWORD = "correct-horse-battery"


# A developer's shell must not point a test backend at their own database, node or secret.
_CLEARED = ("DATABASE_URL", "OLLAMA_URL", "HARVIS_LLM_CONFIG", "HARVIS_SECRET_KEY", "HARVIS_MODELS_DIR")


def backend_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env.update(
        {
            "HARVIS_DATA_DIR": str(data_dir),
            "HARVIS_NODE__THREADS": "1",  # tests share 2 cores
            # The small, fast model: the default (Qwen2.5-Coder-1.5B) is 10× the size and 4× slower.
            "HARVIS_LLM__DEFAULT_MODEL": "smollm2:135m",
            "HARVIS_SPEECH__STT_THREADS": "1",
            "HARVIS_LOG_LEVEL": "info",
            "OMP_WAIT_POLICY": "PASSIVE",
        }
    )
    env.update(extra or {})
    return env


def start_backend(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    log_path: Path | None = None,
    timeout: float = 180.0,
) -> Proc:
    """`harvis serve` on a free port; returns once /health/live answers. Stop it with .stop()."""
    port = port or free_port(host)
    url = f"http://{host}:{port}"
    log_path = log_path or data_dir / "backend.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            [*HARVIS, "serve", "--host", host, "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=backend_env(data_dir, env),
            cwd=REPO,
        )
    try:
        wait_http(url + "/health/live", popen, log_path, timeout)
    except BaseException:
        stop_pid(popen)
        raise
    return Proc(popen=popen, url=url, log_path=log_path)


@contextmanager
def running_backend(data_dir: Path, **kwargs: object) -> Iterator[Proc]:
    proc = start_backend(data_dir, **kwargs)  # type: ignore[arg-type]
    try:
        yield proc
    finally:
        proc.stop()


def signup(base_url: str, username: str, password: str = DEFAULT_PASSWORD) -> dict[str, object]:
    r = httpx.post(
        f"{base_url}/api/auth/signup", json={"username": username, "password": password}, timeout=30
    )
    assert r.status_code == 201, f"signup {username}: {r.status_code} {r.text}"
    return dict(r.json())


def login(
    base_url: str, username: str, password: str = DEFAULT_PASSWORD, *, timeout: float = 120
) -> httpx.Client:
    """A client signed in with the session cookie (as a browser is); `.headers` carry no token."""
    client = httpx.Client(base_url=base_url, timeout=timeout)
    r = client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, f"login {username}: {r.status_code} {r.text}"
    return client


def signup_and_login(base_url: str, username: str, password: str = DEFAULT_PASSWORD) -> httpx.Client:
    signup(base_url, username, password)
    return login(base_url, username, password)


def token_of(client: httpx.Client) -> str:
    token = client.cookies.get("harvis_session")
    assert token, "the client is not signed in"
    return token


def iter_events(response: httpx.Response) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-Sent Events of a streaming response as (event name, data); unnamed ones are "message"."""
    name, data = "message", list[str]()
    for line in response.iter_lines():
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    if data:
        yield name, json.loads("\n".join(data))
