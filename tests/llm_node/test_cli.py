"""`harvis llm-node` as a command: its help, and a clear refusal of a bad configuration."""

from __future__ import annotations

import os
import subprocess

from tests.support.processes import HARVIS, REPO


def test_help_names_the_options() -> None:
    out = subprocess.run(
        [*HARVIS, "llm-node", "--help"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert out.returncode == 0
    for option in ("--host", "--port", "--threads", "--max-queue"):
        assert option in out.stdout


def test_bad_extra_models_fail_at_start_with_a_message() -> None:
    env = {**os.environ, "HARVIS_NODE__EXTRA_MODELS": "not-a-pair"}
    out = subprocess.run(
        [*HARVIS, "llm-node", "--port", "1"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60
    )
    assert out.returncode == 2
    assert "not-a-pair" in out.stderr and "NAME=PATH" in out.stderr
