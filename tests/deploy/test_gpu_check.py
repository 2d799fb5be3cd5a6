"""scripts/gpu-check.sh without a GPU (its CPU dry run here, in the project's own venv): one table,
each engine either measured on the device it reports or "not measured" with the reason; asking for
CUDA here shows the same clear refusal the engines give."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.processes import REPO


def gpu_check(tmp_path: Path, *args: str, rc: int = 0) -> tuple[str, list[dict[str, object]]]:
    out = tmp_path / f"rows-{len(args)}.json"
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu-check.sh"), *args, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(tmp_path)},
    )
    assert done.returncode == rc, done.stdout + done.stderr
    return done.stdout, list(json.loads(out.read_text())["rows"])


def test_cpu_dry_run_measures_what_can_run_and_says_why_for_the_rest(tmp_path: Path) -> None:
    stdout, rows = gpu_check(tmp_path, "--device", "cpu", "--only", "chatterbox,whisper,piper")
    assert stdout.count("\nengine ") + stdout.startswith("engine ") <= 1 and "first audio" in stdout
    by = {str(r["engine"]): r for r in rows}
    whisper, piper = by["faster-whisper tiny.en"], by["piper joe"]
    assert whisper["device"] == "cpu" and whisper["provider"] == "ctranslate2-cpu int8"
    assert piper["device"] == "cpu" and piper["provider"] == "CPUExecutionProvider"
    for row in (whisper, piper):
        assert isinstance(row["rtf"], float) and row["rtf"] > 0
    assert isinstance(piper["first_audio_s"], float) and piper["first_audio_s"] > 0
    chatterbox = by["chatterbox"]  # no torch in this venv: said, not hidden
    assert chatterbox["device"] == "-" and "not measured: No module named 'torch'" in str(chatterbox["note"])


def test_asking_for_cuda_without_a_gpu_is_refused_in_the_table(tmp_path: Path) -> None:
    _, rows = gpu_check(tmp_path, "--device", "cuda", "--only", "whisper,piper", rc=1)  # nothing ran
    for row in rows:
        assert row["device"] == "-" and "CUDA was asked for" in str(row["note"]), row
