"""`harvis serve` itself: the embedded node's life, the secret, and the loopback rule."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.backend import backend_env, start_backend
from tests.support.processes import HARVIS, REPO

pytestmark = pytest.mark.slow


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited but is not yet reaped by its parent: count it as gone.
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


def test_without_ollama_url_serve_starts_the_embedded_node_and_stops_it(tmp_path: Path) -> None:
    backend = start_backend(tmp_path / "data")
    try:
        log = backend.log()
        match = re.search(r"embedded LLM node at (http://127\.0\.0\.1:\d+) \(pid (\d+)\)", log)
        assert match, f"serve did not say it started the embedded node:\n{log[-2000:]}"
        node_url, node_pid = match.group(1), int(match.group(2))
        assert httpx.get(f"{node_url}/api/version", timeout=10).status_code == 200
        ready = httpx.get(f"{backend.url}/health/ready", timeout=30)
        assert ready.status_code == 200, ready.text
        assert [n["url"] for n in ready.json()["checks"]["llm"]["nodes"]] == [node_url]

        secret = tmp_path / "data" / "secret_key"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600 and len(secret.read_text().strip()) >= 32
    finally:
        backend.stop()
    deadline = time.monotonic() + 30
    while pid_alive(node_pid):
        assert time.monotonic() < deadline, f"embedded node pid {node_pid} outlived the backend"
        time.sleep(0.1)


def test_serve_refuses_a_public_address_without_a_secret(tmp_path: Path) -> None:
    env = backend_env(tmp_path)
    result = subprocess.run(
        [*HARVIS, "serve", "--host", "0.0.0.0", "--port", "8999"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "HARVIS_SECRET_KEY" in result.stderr
    assert not (tmp_path / "harvis.db").exists(), "it must refuse before doing anything"
