"""Wildcard entries over two real `harvis llm-node`s, and a config whose key is unset."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest

from harvis.config import LLMSettings
from harvis.llm.router import Router
from harvis.llm.router_config import parse_config
from harvis.models.catalog import resolve
from tests.llm.servers import MODEL, two_loopback_hosts
from tests.llm.util import chat, until
from tests.support.backend import backend_env, login, signup, start_backend
from tests.support.llm_node import start_llm_node
from tests.support.processes import HARVIS, Proc

pytestmark = pytest.mark.slow
HOSTS = two_loopback_hosts()
SHORT = {"temperature": 0, "num_predict": 4}


def _gguf() -> Path:
    return resolve(MODEL, Path("/nonexistent"))


@pytest.fixture(scope="module")
def nodes() -> Iterator[tuple[Proc, Proc]]:
    """Two nodes, each with one extra model only it lists (the same GGUF under another name)."""
    a = start_llm_node(HOSTS[0], extra_env={"HARVIS_NODE__EXTRA_MODELS": f"only-a:1b={_gguf()}"})
    try:
        b = start_llm_node(HOSTS[1], extra_env={"HARVIS_NODE__EXTRA_MODELS": f"only-b:1b={_gguf()}"})
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


async def test_wildcard_lists_and_serves_every_model_of_two_nodes(nodes: tuple[Proc, Proc]) -> None:
    a, b = nodes
    config = parse_config(
        {
            "model_list": [
                {"model_name": "*", "litellm_params": {"model": "ollama/*", "api_base": a.url}},
                {"model_name": "*", "litellm_params": {"model": "ollama_chat/*", "api_base": b.url}},
            ]
        },
        env={},
    )
    router = Router(LLMSettings(default_model=MODEL, probe_interval_s=0.2), config)
    await router.start()
    try:

        def seen() -> dict[str, set[str]]:
            out: dict[str, set[str]] = {}
            for dep in router.status()["deployments"]:
                out.setdefault(dep["model"], set()).add(dep["node"])
            return out

        await until(lambda: {"only-a:1b", "only-b:1b"} <= seen().keys(), what="both nodes' models listed")
        listed = {m.name: m.node for m in await router.list_models()}
        assert listed["only-a:1b"] == a.url and listed["only-b:1b"] == b.url, listed
        assert seen()["only-a:1b"] == {a.url} and seen()["only-b:1b"] == {b.url}
        assert seen()[MODEL] == {a.url, b.url}  # listed by both: one group, two deployments
        for group, node in (("only-a:1b", a.url), ("only-b:1b", b.url)):
            content, _, end = await chat(router, group, "Say hi.", options=SHORT)
            assert content.strip() and end.served_by == f"{group}@{node}" and end.model == group
    finally:
        await router.close()


def test_unset_key_starts_the_backend_and_ready_names_the_disabled_deployment(
    nodes: tuple[Proc, Proc], tmp_path: Path
) -> None:
    a, _ = nodes
    llm = tmp_path / "llm.yaml"
    llm.write_text(
        "model_list:\n"
        f"  - model_name: '*'\n    litellm_params:\n      model: ollama/*\n      api_base: {a.url}\n"
        "  - model_name: cloud\n    litellm_params:\n      model: openai/gpt-4o\n"
        "      api_key: os.environ/HARVIS_TEST_NEVER_SET\n"
    )
    proc = start_backend(tmp_path / "data", env={"HARVIS_LLM_CONFIG": str(llm), "OLLAMA_URL": a.url})
    try:
        body = httpx.get(f"{proc.url}/health/ready", timeout=30).json()
        llm_check = body["checks"]["llm"]
        assert llm_check["ok"] is True, body
        assert llm_check["disabled"] == [
            {
                "model": "cloud",
                "entry": "model_list[1]",
                "reason": "environment variable HARVIS_TEST_NEVER_SET is not set",
            }
        ], body
        assert "cloud (environment variable HARVIS_TEST_NEVER_SET is not set)" in llm_check["detail"]
        signup(proc.url, "picker")
        with closing(login(proc.url, "picker")) as user:
            models = user.get("/api/models").json()  # what the model picker shows
        assert models["disabled"] == llm_check["disabled"]
        assert "only-a:1b" in {m["name"] for m in models["models"]}  # the wildcard's models too
    finally:
        proc.stop()


def test_bad_config_stops_serve_with_one_line_and_status_2(tmp_path: Path) -> None:
    llm = tmp_path / "llm.yaml"
    llm.write_text("model_list:\n  - model_name: odd\n    litellm_params:\n      model: anthropic/claude\n")
    env = backend_env(tmp_path, {"HARVIS_LLM_CONFIG": str(llm), "OLLAMA_URL": "http://127.0.0.1:9"})
    done = subprocess.run(
        [*HARVIS, "serve", "--port", "0"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "model_list[0] (model_name 'odd'): unknown provider 'anthropic'" in lines[0], (
        lines
    )
    assert "Traceback" not in done.stderr
