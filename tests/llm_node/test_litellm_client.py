"""LiteLLM's `ollama_chat/` provider with tools against a real `harvis llm-node` (the model
TOOL_MODEL, whose template renders tools), offline. LiteLLM lives in its own test venv
(.venv-litellm: ~260 MB more than Harvis needs, so not in the main one; `make litellm-venv`)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.llm_node import TOOL_MODEL, llm_node, tool_models_dir
from tests.support.processes import REPO, Proc

pytestmark = pytest.mark.slow
PROBE = REPO / "tests" / "support" / "litellm_probe.py"


@pytest.fixture(scope="module")
def litellm_python() -> Path:
    """Checked before the node starts: a missing venv fails at once, naming the fix."""
    python = Path(os.environ.get("HARVIS_LITELLM_PYTHON", REPO / ".venv-litellm" / "bin" / "python"))
    if not python.exists():
        pytest.fail(
            f"LiteLLM's test venv is missing ({python}): run `make litellm-venv` "
            "(it installs requirements-litellm.txt), or point HARVIS_LITELLM_PYTHON at a Python that has it"
        )
    return python


@pytest.fixture(scope="module")
def node() -> Iterator[Proc]:
    with llm_node(extra_env={"HARVIS_MODELS_DIR": str(tool_models_dir())}) as proc:
        yield proc


def probe(python: Path, node: Proc) -> dict[str, Any]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(REPO / "test-artifacts"), "NO_PROXY": "*"}
    result = subprocess.run(
        [str(python), str(PROBE), node.url, TOOL_MODEL],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"the LiteLLM probe failed:\n{result.stderr[-4000:]}"
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_litellm_ollama_chat_calls_a_tool_and_answers_its_result(litellm_python: Path, node: Proc) -> None:
    seen = probe(litellm_python, node)
    assert seen["outside"] == [], f"LiteLLM tried to reach the network: {seen['outside']}"
    assert len(seen["calls"]) == 1, seen
    call = seen["calls"][0]
    assert call["name"] == "get_weather" and json.loads(call["arguments"]) == {"city": "Paris"}
    assert seen["first_finish"] == "tool_calls", seen
    assert "get_weather" not in (seen["first_content"] or ""), "the call is not left in the text"
    assert seen["answer_calls"] == 0 and "23" in (seen["answer"] or ""), seen
    streamed = [c for c in seen["streamed_calls"] if c["name"]]
    assert [c["name"] for c in streamed] == ["get_weather"], seen["streamed_calls"]
    assert json.loads("".join(c["arguments"] or "" for c in seen["streamed_calls"])) == {"city": "Paris"}
