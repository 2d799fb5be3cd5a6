"""`harvis doctor` checks against real things: files, PostgreSQL, DNS, a router file, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from harvis.config import Settings
from harvis.doctor import cache, database, router
from harvis.doctor.context import Context
from harvis.doctor.probe import speech_warm
from harvis.doctor.result import Check, Status, to_json, to_table
from tests.support.processes import HARVIS, REPO, free_port

POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def ctx(**fields: str) -> Context:
    return Context(settings=Settings(**fields), timeout_s=3.0)


def run_doctor(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    mine = ("HARVIS_", "DATABASE_URL", "OLLAMA_URL")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(mine)}
    return subprocess.run(
        [*HARVIS, "doctor", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**clean, "KUBECONFIG": "/nonexistent", **env},
        timeout=120,
        check=False,
    )


def test_speech_probe_waits_for_warm_models() -> None:
    def body(*states: str) -> dict:
        models = [{"name": f"m{i}", "state": s} for i, s in enumerate(states)]
        return {"checks": {"speech": {"models": models}}}

    assert speech_warm(body("ready", "ready"), preload=True)[0]
    assert not speech_warm(body("ready", "loading"), preload=True)[0]
    assert not speech_warm(body("unloaded"), preload=True)[0]
    assert speech_warm(body("unloaded"), preload=False)[0]  # loads on first use: nothing to wait for
    assert not speech_warm(body("failed"), preload=False)[0]
    assert not speech_warm({"checks": {}}, preload=True)[0]


def test_table_and_json_carry_the_fix() -> None:
    checks = [Check.ok("a", "fine"), Check.fail("b", "broken", "do this"), Check.skip("c", "n/a")]
    table = to_table(checks)
    assert "What to try:" in table and "do this" in table and "1 ok, 1 fail, 1 skip" in table
    body = json.loads(to_json(checks))
    assert body["ok"] is False and [c["status"] for c in body["checks"]] == ["ok", "fail", "skip"]


def test_model_cache_writable_with_read_speed(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(os.urandom(8 * 1024**2))
    results = {c.name: c for c in cache._check(tmp_path)}
    assert results["model cache"].status is Status.OK and "writable" in results["model cache"].detail
    assert results["model cache read"].data["mb_s"] > 0
    assert not list(tmp_path.glob(".harvis-doctor-*")), "the write test must clean up"


def test_slow_cache_gets_the_emptydir_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "model.bin").write_bytes(os.urandom(1024**2))
    monkeypatch.setattr(cache, "SLOW_MB_S", float("inf"))  # any real disk is "slow" now
    (_, read) = cache._check(tmp_path)
    assert read.status is Status.WARN and "emptyDir" in read.fix and "sizeLimit" in read.fix


def test_unwritable_cache_fails(tmp_path: Path) -> None:
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        if os.access(target, os.W_OK):
            # root ignores permission bits: use a path under a file instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            (result,) = cache._check(blocker / "models")
        else:
            (result, *_) = cache._check(target)
    finally:
        target.chmod(0o700)
    assert result.status is Status.FAIL and result.fix


def test_database_postgres_ok_and_refused() -> None:
    (good,) = asyncio.run(database.run(ctx(database_url=POSTGRES)))
    assert good.status is Status.OK, f"{good.detail} (is PostgreSQL running on 127.0.0.1:5432?)"
    refused = f"postgresql://postgres@127.0.0.1:{free_port()}/x"
    (bad,) = asyncio.run(database.run(ctx(database_url=refused)))
    assert bad.status is Status.FAIL and "harvis-ai-secrets" in bad.fix


def test_router_file_good_and_bad(tmp_path: Path) -> None:
    good = tmp_path / "llm.yaml"
    good.write_text(
        "model_list:\n  - model_name: small\n    litellm_params:\n"
        "      model: ollama/smollm2:135m\n      api_base: http://127.0.0.11:11434\n"
    )
    (ok,) = asyncio.run(router.run(ctx(llm_config=str(good))))
    assert ok.status is Status.OK and "small -> ollama:http://127.0.0.11:11434" in ok.detail
    unset = tmp_path / "unset.yaml"
    unset.write_text(
        "model_list:\n  - model_name: cloud\n    litellm_params:\n      model: openai/gpt-4o\n"
        "      api_key: os.environ/HARVIS_TEST_UNSET_KEY\n"
    )
    # An unset key disables that entry (named, with the variable) instead of failing the router.
    listed, disabled = asyncio.run(router.run(ctx(llm_config=str(unset))))
    assert listed.status is Status.OK
    assert (
        disabled.status is Status.WARN and "model_list[0] (model_name 'cloud') is disabled" in disabled.detail
    )
    assert "HARVIS_TEST_UNSET_KEY is not set" in disabled.detail
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_list:\n  - model_name: cloud\n    litellm_params:\n      model: anthropic/x\n")
    (fail,) = asyncio.run(router.run(ctx(llm_config=str(bad))))
    assert fail.status is Status.FAIL and "model_list[0] (model_name 'cloud')" in fail.detail


def test_cli_exit_status_and_fixes_for_unreachable_service_names() -> None:
    result = run_doctor(
        "--only",
        "ollama,dns",
        "--timeout",
        "3",
        env={"OLLAMA_URL": "http://harvis-ai-ollama-workstation:11434"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "dns harvis-ai-ollama-workstation" in result.stdout and "FAIL" in result.stdout
    assert "kubectl port-forward" in result.stdout


def test_cli_rejects_unknown_groups() -> None:
    result = run_doctor("--only", "nope", env={})
    assert result.returncode != 0 and "unknown group" in result.stderr


def _fake_nvidia_smi(bin_dir: Path) -> None:
    # No GPU here: a stand-in that answers the query doctor makes the way nvidia-smi does
    # (CSV, no header, no units), and fails on anything else.
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *--query-gpu=index,name,memory.used,memory.total,utilization.gpu*--format=csv,noheader,nounits*)\n"
        '    echo "0, NVIDIA H200, 1024, 143771, 3"; echo "1, NVIDIA H200, 0, 143771, 0";;\n'
        '  *) echo "unknown option" >&2; exit 2;;\n'
        "esac\n"
    )
    script.chmod(0o755)


def test_gpu_check_reads_nvidia_smi(tmp_path: Path) -> None:
    _fake_nvidia_smi(tmp_path)
    path = f"{tmp_path}:{os.environ['PATH']}"
    result = run_doctor("--only", "gpu", "--json", env={"PATH": path, "HARVIS_SPEECH__DEVICE": "cuda"})
    (gpu,) = json.loads(result.stdout)["checks"]
    assert result.returncode == 0 and gpu["status"] == "ok", gpu
    assert [g["name"] for g in gpu["data"]["gpus"]] == ["NVIDIA H200", "NVIDIA H200"]
    assert "1024/143771 MiB" in gpu["detail"]


def test_cuda_without_a_gpu_fails_with_the_fix(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "HARVIS_SPEECH__DEVICE": "cuda"}  # no nvidia-smi on this PATH
    result = run_doctor("--only", "gpu", "--json", env=env)
    (gpu,) = json.loads(result.stdout)["checks"]
    assert result.returncode == 1 and gpu["status"] == "fail" and "HARVIS_SPEECH__DEVICE=cpu" in gpu["fix"]
