"""The CUDA image's Python set resolves on PyPI, as the image installs it: Harvis's dependencies
with deploy/docker/requirements-cuda.txt (a `pip install --dry-run --report` against the registry,
nothing installed), one CUDA major for everything, and chatterbox-tts's own pins all met except
the ones the set replaces on purpose."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

from tests.support.processes import REPO

DOCKER = REPO / "deploy" / "docker"
CUDA = DOCKER / "requirements-cuda.txt"
NODEPS = DOCKER / "requirements-cuda-nodeps.txt"
# chatterbox-tts pins these; the image replaces or leaves them out, for the reasons in NODEPS.
OVERRIDDEN = {"torch", "torchaudio", "gradio", "spacy-pkuseg", "pykakasi"}


def pins(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned with =="
            out[name.lower()] = version
    return out


def dry_run(tmp_path: Path, *args: str) -> dict[str, Any]:
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    done = subprocess.run([*cmd, "--report", str(report), *args], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"the CUDA image's set does not resolve:\n{done.stderr[-3000:]}"
    return {
        i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]
        for i in json.loads(report.read_text())["install"]
    }


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("cuda-deps")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    harvis = tmp / "harvis-requirements.txt"
    harvis.write_text("\n".join(project) + "\n")
    return dry_run(tmp, "-r", str(harvis), "-r", str(CUDA))


def test_the_pinned_set_resolves_with_harvis(resolved: dict[str, Any]) -> None:
    for name, version in pins(CUDA).items():
        assert name in resolved, f"{name} is not in the resolved set"
        assert resolved[name]["version"] == version, (name, resolved[name]["version"], version)


def test_one_cuda_major_for_every_library(resolved: dict[str, Any]) -> None:
    nvidia = sorted(n for n in resolved if n.startswith("nvidia-"))
    assert nvidia, "torch brought no nvidia-* CUDA libraries: not a CUDA build"
    assert all(n.endswith("-cu12") for n in nvidia), f"mixed CUDA majors: {nvidia}"
    needs = " ".join(resolved["torch"].get("requires_dist", []))
    assert "nvidia-cudnn-cu12" in needs and "nvidia-cublas-cu12" in needs  # cuDNN 9 / CUDA 12 torch
    cudnn = Version(resolved["nvidia-cudnn-cu12"]["version"])
    assert cudnn.major == 9, f"CTranslate2 4.8 and onnxruntime-gpu need cuDNN 9, the set has {cudnn}"


def test_chatterbox_pins_are_met_except_the_documented_overrides(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    chatterbox = dry_run(tmp_path, "--no-deps", "-r", str(NODEPS))["chatterbox-tts"]
    assert chatterbox["version"] == pins(NODEPS)["chatterbox-tts"]
    env = {**default_environment(), "extra": ""}
    unmet = set()
    for text in chatterbox["requires_dist"]:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        name = req.name.lower().replace("_", "-")
        got = resolved.get(name, {}).get("version")
        if got is None or not req.specifier.contains(got, prereleases=True):
            unmet.add(name)
    assert unmet <= OVERRIDDEN, f"chatterbox-tts needs these, which the CUDA set breaks: {unmet - OVERRIDDEN}"
    assert "torch" in unmet and "torchaudio" in unmet  # the reason it goes in --no-deps
    assert not {"gradio", "spacy-pkuseg", "pykakasi"} & resolved.keys()  # left out, not half in


def test_the_image_installs_exactly_this_set_with_the_same_python() -> None:
    dockerfile = (DOCKER / "Dockerfile.backend-cuda").read_text()
    assert "install-cuda-python.sh" in dockerfile
    script = (DOCKER / "install-cuda-python.sh").read_text()
    assert "requirements-cuda.txt" in script and "requirements-cuda-nodeps.txt" in script
    base = re.search(r"python:(\d+\.\d+)\.\d+-slim", dockerfile)
    assert base, "the CUDA image's Python base is not pinned"
    assert base.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}", (
        "the dry run resolves for this Python; the image must use the same minor version"
    )
