"""`harvis models fetch chatterbox` against a local hub that answers like the real one: every file
checked (LFS sha256 or git blob id at the commit), a corrupted file refused, an interrupted
download resumed with Range, atomic and idempotent; mirrors and directories as sources."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvis.models import catalog
from harvis.models.cache import MANIFEST, FetchError, copy_from, fetch, read_manifest
from harvis.models.download import fetch_remote
from harvis.models.manifest import read_source
from harvis.models.remote import REMOTE
from tests.support.model_hub import COMMIT, Hub, serve, static_files

REPO = "ResembleAI/chatterbox"
FILES = {
    "ve.safetensors": b"v" * 70_000,
    "t3_cfg.safetensors": bytes(range(256)) * 2_000,  # 512 kB
    "s3gen.safetensors": b"s" * 300_000,
    "tokenizer.json": b'{"model": {"vocab": {}}}',  # small: a git blob on the hub, not LFS
    "conds.pt": b"c" * 9_000,
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    with serve(tmp_path / "hub") as h:
        for name, data in FILES.items():
            h.put(REPO, name, data, lfs=name != "tokenizer.json")
        yield h


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob(".staging-*"))


def test_fetches_every_file_from_one_commit_and_checks_it(tmp_path: Path, hub: Hub) -> None:
    cache, log = tmp_path / "cache", io.StringIO()
    result = fetch("chatterbox", cache, hub_endpoint=hub.url, progress_stream=log)
    assert result.action == "downloaded" and result.path == cache / "chatterbox"
    for name, data in FILES.items():
        assert (result.path / name).read_bytes() == data
    files = read_manifest(result.path)
    assert files == {n: {"sha256": sha(d), "size": len(d)} for n, d in FILES.items()}
    assert read_source(result.path) == f"hub {REPO}@{COMMIT}"  # the commit `main` named, recorded
    # The first HEAD learns the commit; every download then names the commit, not the branch.
    gets = [path for method, path, _ in hub.requests if method == "GET"]
    assert len(gets) == len(FILES) and all(f"/resolve/{COMMIT}/" in p for p in gets)
    assert "download chatterbox: start" in log.getvalue() and "download chatterbox: done" in log.getvalue()
    assert leftovers(cache) == [] and catalog.resolve("chatterbox", cache) == result.path

    before = len(hub.requests)
    assert fetch("chatterbox", cache, hub_endpoint=hub.url).action == "present"
    assert len(hub.requests) == before  # idempotent: nothing asked of the hub


def test_a_corrupted_file_is_refused_and_the_good_ones_are_kept(tmp_path: Path, hub: Hub) -> None:
    cache = tmp_path / "cache"
    hub.corrupt.add("t3_cfg.safetensors")
    with pytest.raises(FetchError) as info:
        fetch("chatterbox", cache, hub_endpoint=hub.url)
    message = str(info.value)
    assert "t3_cfg.safetensors refused" in message and sha(FILES["t3_cfg.safetensors"]) in message
    assert "hub LFS metadata" in message
    assert not (cache / "chatterbox").exists()  # no half model where the engines look
    with pytest.raises(catalog.ModelMissing, match="harvis models fetch chatterbox"):
        catalog.resolve("chatterbox", cache)
    hub.corrupt.clear()
    assert fetch("chatterbox", cache, hub_endpoint=hub.url).action == "downloaded"
    assert len(hub.gets("ve.safetensors")) == 1  # finished before the failure: not fetched again
    assert len(hub.gets("t3_cfg.safetensors")) == 2
    assert (cache / "chatterbox" / "t3_cfg.safetensors").read_bytes() == FILES["t3_cfg.safetensors"]


def test_a_small_file_is_checked_against_its_git_blob(tmp_path: Path, hub: Hub) -> None:
    hub.corrupt.add("tokenizer.json")
    with pytest.raises(FetchError, match=r"tokenizer\.json refused: it is git blob .* expected"):
        fetch("chatterbox", tmp_path / "cache", hub_endpoint=hub.url)


def test_an_interrupted_download_resumes_with_range(tmp_path: Path, hub: Hub) -> None:
    cache = tmp_path / "cache"
    model = REMOTE["chatterbox"]
    hub.cut_after["s3gen.safetensors"] = 100_000
    with pytest.raises(
        FetchError, match=r"s3gen\.safetensors: download interrupted at 100000 of 300000.*again"
    ):
        fetch_remote(model, cache, hub_endpoint=hub.url, attempts=1)
    part = cache / ".staging-chatterbox-partial" / "s3gen.safetensors.part"
    assert part.stat().st_size == 100_000 and not (cache / "chatterbox").exists()

    log = io.StringIO()
    assert fetch_remote(model, cache, hub_endpoint=hub.url, progress_stream=log).action == "downloaded"
    assert hub.gets("s3gen.safetensors") == ["", "bytes=100000-"]  # the rest only, not the file again
    assert (cache / "chatterbox" / "s3gen.safetensors").read_bytes() == FILES["s3gen.safetensors"]
    assert leftovers(cache) == []

    # Within one run too: a dropped connection is resumed by the next attempt.
    hub.requests.clear()
    hub.cut_after["conds.pt"] = 4_000
    again = fetch_remote(model, tmp_path / "other", hub_endpoint=hub.url)
    assert again.action == "downloaded" and hub.gets("conds.pt") == ["", "bytes=4000-"]


def test_a_revision_can_be_pinned_and_unknown_ones_fail_clearly(tmp_path: Path, hub: Hub) -> None:
    result = fetch("chatterbox", tmp_path / "a", hub_endpoint=hub.url, revision=COMMIT)
    assert read_source(result.path) == f"hub {REPO}@{COMMIT}"
    with pytest.raises(FetchError, match=r"HEAD .*/resolve/v9/ve\.safetensors: HTTP 404"):
        fetch("chatterbox", tmp_path / "b", hub_endpoint=hub.url, revision="v9")


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A plain static HTTP server (no hub metadata): what a mirror of a model cache is."""
    root = tmp_path / "www"
    root.mkdir()

    with static_files(root) as url:
        yield url, root


def test_a_mirror_of_a_model_cache_is_checked_against_its_manifest(
    tmp_path: Path, hub: Hub, plain_server: tuple[str, Path]
) -> None:
    url, www = plain_server
    # Unverifiable: a plain server with the files but no manifest.
    for name, data in FILES.items():
        (www / "bare").mkdir(exist_ok=True)
        (www / "bare" / name).write_bytes(data)
    with pytest.raises(FetchError, match=rf"serves no {MANIFEST}"):
        fetch("chatterbox", tmp_path / "x", hub_endpoint="", base_url=f"{url}/bare/")
    # A model directory made by `harvis models fetch`, served over HTTP: fetched and checked.
    fetch("chatterbox", www, hub_endpoint=hub.url)
    result = fetch("chatterbox", tmp_path / "mirror", hub_endpoint="", base_url=f"{url}/chatterbox")
    assert read_manifest(result.path) == read_manifest(www / "chatterbox")
    assert read_source(result.path) == f"url {url}/chatterbox"
    (www / "chatterbox" / "conds.pt").write_bytes(b"x" * len(FILES["conds.pt"]))  # damaged on the mirror
    with pytest.raises(FetchError, match=r"conds\.pt refused"):
        fetch("chatterbox", tmp_path / "mirror2", hub_endpoint="", base_url=f"{url}/chatterbox")


def test_from_a_directory_for_air_gapped_clusters(tmp_path: Path, hub: Hub) -> None:
    usb = tmp_path / "usb"
    fetch("chatterbox", usb, hub_endpoint=hub.url)
    for source in (usb, usb / "chatterbox"):  # a cache, or the model's own directory
        cache = tmp_path / f"cache-{source.name}"
        assert copy_from(source, "chatterbox", cache).action == "copied"
        assert read_manifest(cache / "chatterbox") == read_manifest(usb / "chatterbox")
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, data in FILES.items():
        (plain / name).write_bytes(data)
    with pytest.raises(FetchError, match=rf"holds no {MANIFEST} for chatterbox"):
        copy_from(plain, "chatterbox", tmp_path / "c3")


def test_cli_fetch_from_the_hub_and_errors(tmp_path: Path, hub: Hub) -> None:
    env = {
        "HARVIS_MODELS_DIR": str(tmp_path / "cache"),
        "HARVIS_DATA_DIR": str(tmp_path / "data"),
        "HARVIS_SPEECH__HUB_ENDPOINT": hub.url,
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "harvis.cli", "models", *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)

    done = run("fetch", "chatterbox")
    assert done.returncode == 0, done.stderr
    assert "chatterbox: downloaded" in done.stdout and "download chatterbox: 50%" in done.stderr
    assert "chatterbox: present" in run("fetch", "chatterbox").stdout
    listed = run("list").stdout
    assert any(line.startswith("chatterbox ") and " yes " in line for line in listed.splitlines())
    assert "ok  chatterbox: 5 files ok" in run("verify", "chatterbox").stdout
    hub.corrupt.add("ve.safetensors")
    bad = run("fetch", "chatterbox", "--force")
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
    assert bad.returncode == 1 and len(errors) == 1 and errors[0].startswith("error: ve.safetensors refused")
    assert "Traceback" not in bad.stderr and bad.stderr.splitlines()[-1] == errors[0]
    unknown = run("fetch", "chatterbox-xl")
    assert unknown.returncode == 1 and "known:" in unknown.stderr and "chatterbox" in unknown.stderr
    manifest = json.loads((tmp_path / "cache" / "chatterbox" / MANIFEST).read_text())
    assert manifest["source"] == f"hub {REPO}@{COMMIT}"  # the failed --force left the good copy alone
