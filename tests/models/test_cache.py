"""The model cache: copy, assemble and download (from a local HTTP server and file:// URLs),
atomic and idempotent, sha256-checked, verified, with progress output."""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harvis.models import catalog
from harvis.models.cache import (
    FetchError,
    copy_from,
    fetch,
    fetch_remote,
    fetch_url,
    is_present,
    read_manifest,
)
from harvis.models.manifest import MANIFEST
from harvis.models.progress import Progress
from harvis.models.remote import RemoteFile, RemoteModel
from harvis.models.verify import Speed, read_speed, speed_advice, verify, verify_dir
from tests.support.model_hub import static_files


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def no_leftovers(models_dir: Path) -> bool:
    return not [p for p in models_dir.glob(".*") if p.name.startswith((".staging-", ".old-"))]


def test_fetch_copies_an_in_place_model_with_its_sidecar(tmp_path: Path) -> None:
    result = fetch("piper-joe", tmp_path)
    assert result.action == "copied" and result.path == tmp_path / "piper-joe"
    onnx = result.path / "en_US-joe-medium.onnx"
    source = catalog.CATALOG["piper-joe"].parts[0].locate()
    assert source is not None and onnx.read_bytes() == source.read_bytes()
    assert (result.path / "en_US-joe-medium.onnx.json").is_file()  # Piper needs its config beside it
    files = read_manifest(result.path)
    assert files is not None and files["en_US-joe-medium.onnx"]["sha256"] == sha(source.read_bytes())
    assert no_leftovers(tmp_path)


def test_resolve_prefers_the_cache_copy_over_the_package(tmp_path: Path) -> None:
    # The deployment's init container fills HARVIS_MODELS_DIR: the engines must load from there.
    package = catalog.CATALOG["piper-joe"].parts[0].locate()
    assert catalog.resolve("piper-joe", tmp_path) == package  # nothing cached yet
    fetch("piper-joe", tmp_path)
    assert catalog.resolve("piper-joe", tmp_path) == tmp_path / "piper-joe" / "en_US-joe-medium.onnx"
    # A directory without its manifest (a copy cut short) is not used.
    (tmp_path / "piper-joe" / MANIFEST).unlink()
    assert catalog.resolve("piper-joe", tmp_path) == package


def test_fetch_is_idempotent_and_repairs_a_truncated_copy(tmp_path: Path) -> None:
    first = fetch("whisper-tiny.en", tmp_path)
    model_bin = first.path / "model" / "model.bin"
    inode = model_bin.stat().st_ino
    assert fetch("whisper-tiny.en", tmp_path).action == "present"
    assert model_bin.stat().st_ino == inode  # untouched
    with open(model_bin, "r+b") as f:
        f.truncate(1000)
    assert not is_present(first.path)
    assert fetch("whisper-tiny.en", tmp_path).action == "copied"
    assert verify_dir(first.path).ok and no_leftovers(tmp_path)


@pytest.fixture
def part_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Two small installed packages holding the halves of a model, plus a tokenizer extra."""
    root = tmp_path / "site"
    data = {"a": b"GGUF-first-half-" * 1000, "b": b"second-half" * 1500, "tok": b'{"vocab": []}'}
    for pkg, files in (
        ("h5_parts_a", {"data/p1.bin": data["a"], "data/tok.json": data["tok"]}),
        ("h5_parts_b", {"data/p2.bin": data["b"]}),
    ):
        for rel, content in {"__init__.py": b"", **files}.items():
            (root / pkg / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / pkg / rel).write_bytes(content)
    monkeypatch.syspath_prepend(str(root))
    return data


def assembled_entry(sha256: str) -> catalog.ModelEntry:
    return catalog.ModelEntry(
        name="tiny-assembled",
        kind="stt",
        description="test model in two parts",
        parts=(
            catalog.PackagePart("h5_parts_a", "data/p1.bin"),
            catalog.PackagePart("h5_parts_b", "data/p2.bin"),
        ),
        filename="model.bin",
        sha256=sha256,
        extras={"tokenizer.json": catalog.PackagePart("h5_parts_a", "data/tok.json")},
        pip=("h5-parts-a==1", "h5-parts-b==1"),
    )


def test_assembles_parts_and_checks_the_hash(
    tmp_path: Path, part_packages: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = part_packages["a"] + part_packages["b"]
    monkeypatch.setitem(catalog.CATALOG, "tiny-assembled", assembled_entry(sha(whole)))
    cache = tmp_path / "cache"
    result = fetch("tiny-assembled", cache)
    assert result.action == "assembled"
    assert (result.path / "model.bin").read_bytes() == whole
    assert (result.path / "tokenizer.json").read_bytes() == part_packages["tok"]
    assert catalog.resolve("tiny-assembled", cache) == result.path  # where the engines look


def test_a_wrong_hash_leaves_nothing_behind(
    tmp_path: Path, part_packages: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(catalog.CATALOG, "tiny-assembled", assembled_entry("0" * 64))
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="does not match"):
        fetch("tiny-assembled", cache)
    assert list(cache.iterdir()) == []


def test_missing_parts_name_the_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(catalog.CATALOG, "tiny-assembled", assembled_entry("0" * 64))
    with pytest.raises(catalog.ModelMissing, match=r"h5_parts_a/data/p1\.bin"):
        fetch("tiny-assembled", tmp_path)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A model hub on 127.0.0.1: plain files under /REPO/resolve/REVISION/FILE."""
    root = tmp_path / "hub"
    root.mkdir()

    with static_files(root) as url:
        yield url, root


def test_download_errors_are_clear_and_atomic(tmp_path: Path, hub: tuple[str, Path]) -> None:
    endpoint, root = hub
    (root / "acme/x/resolve/main").mkdir(parents=True)
    (root / "acme/x/resolve/main/a.bin").write_bytes(b"abc")
    cache = tmp_path / "cache"
    wrong = RemoteModel(
        name="x", kind="tts", description="", repo="acme/x", files=(RemoteFile("a.bin", sha256="f" * 64),)
    )
    with pytest.raises(FetchError, match="sha256"):
        fetch_remote(wrong, cache, hub_endpoint=endpoint)
    missing = RemoteModel(
        name="x", kind="tts", description="", repo="acme/x", files=(RemoteFile("nope.bin"),)
    )
    with pytest.raises(FetchError, match=r"HTTP 404.*nope\.bin|nope\.bin.*HTTP 404"):
        fetch_remote(missing, cache, hub_endpoint=endpoint)
    assert not (cache / "x").exists() and no_leftovers(cache)


def test_fetch_by_file_url(tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(b"w" * 5000)
    result = fetch_url(src.as_uri(), "custom", tmp_path / "cache", sha256=sha(src.read_bytes()))
    assert (result.path / "weights.bin").read_bytes() == src.read_bytes()
    with pytest.raises(FetchError, match="unsupported URL scheme"):
        fetch_url("ftp://example.invalid/x", "other", tmp_path / "cache")


def test_copy_from_another_cache_checks_hashes(tmp_path: Path) -> None:
    nfs = tmp_path / "nfs"
    fetch("piper-joe", nfs)
    local = tmp_path / "local"
    assert copy_from(nfs, "piper-joe", local).action == "copied"
    assert read_manifest(local / "piper-joe") == read_manifest(nfs / "piper-joe")
    with open(nfs / "piper-joe" / "en_US-joe-medium.onnx.json", "r+b") as f:
        f.write(b"X")  # same size, different bytes: only the hash can tell
    with pytest.raises(FetchError, match="sha256"):
        copy_from(nfs, "piper-joe", tmp_path / "other")


def test_verify_finds_damage_and_checks_in_place_models(tmp_path: Path) -> None:
    fetch("piper-joe", tmp_path)
    checks = {c.name: c for c in verify(tmp_path)}
    assert checks["piper-joe"].ok and checks["smollm2:135m"].ok  # the package GGUF, against the catalogue
    config = tmp_path / "piper-joe" / "en_US-joe-medium.onnx.json"
    config.write_bytes(b"}" + config.read_bytes()[1:])
    damaged = verify_dir(tmp_path / "piper-joe")
    assert not damaged.ok and "en_US-joe-medium.onnx.json sha256 mismatch" in damaged.detail


def test_read_speed_and_advice(tmp_path: Path) -> None:
    fetch("piper-joe", tmp_path)
    speed = read_speed(tmp_path)
    assert speed.bytes > 60_000_000 and speed.mb_s > 0
    advice = speed_advice(Speed(bytes=100_000_000, seconds=10.0), 200)
    assert advice is not None and "10 MB/s" in advice and "emptyDir" in advice and "init container" in advice
    assert speed_advice(Speed(bytes=100_000_000, seconds=0.1), 200) is None


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_lines_in_logs() -> None:
    log = io.StringIO()
    with Progress("copy m", 1000, log) as p:
        for _ in range(10):
            p.advance(100)
    lines = log.getvalue().splitlines()
    assert lines == [
        "copy m: start (0.0 MB)",
        "copy m: 25% (0.0 MB of 0.0 MB)",
        "copy m: 50% (0.0 MB of 0.0 MB)",
        "copy m: 75% (0.0 MB of 0.0 MB)",
        "copy m: done (0.0 MB)",
    ]
    tty = FakeTerminal()
    with Progress("copy m", 1000, tty) as p:
        p.advance(1000)
    assert "100%" in tty.getvalue() and "\r" in tty.getvalue()


def test_cli(tmp_path: Path) -> None:
    import subprocess

    env = {
        "HARVIS_MODELS_DIR": str(tmp_path),
        "HARVIS_DATA_DIR": str(tmp_path / "data"),
        "PATH": "/usr/bin:/bin",
    }
    harvis = [sys.executable, "-m", "harvis.cli", "models"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*harvis, *args], env=env, capture_output=True, text=True, timeout=300)

    fetched = run("fetch", "piper-joe")
    assert fetched.returncode == 0 and "piper-joe: copied" in fetched.stdout
    assert "copy piper-joe: 25%" in fetched.stderr  # plain lines when not on a terminal
    listing = run("list")
    assert listing.returncode == 0
    assert any(line.startswith("piper-joe") and " yes " in line for line in listing.stdout.splitlines())
    verified = run("verify", "--speed")
    assert verified.returncode == 0 and "ok  piper-joe" in verified.stdout
    assert "read speed:" in verified.stdout
    local = tmp_path / "local"  # an init container filling an emptyDir from the NFS cache
    copied = subprocess.run(
        [*harvis, "fetch", "--from", str(tmp_path)],
        capture_output=True,
        text=True,
        env={**env, "HARVIS_MODELS_DIR": str(local)},
        timeout=300,
    )
    assert copied.returncode == 0 and "piper-joe: copied" in copied.stdout
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"x" * 1000)
    digest = sha(weights.read_bytes())
    by_url = run("fetch", "--url", weights.as_uri(), "--name", "custom", "--sha256", digest)
    assert by_url.returncode == 0 and (tmp_path / "custom" / "w.bin").is_file()
    (tmp_path / "piper-joe" / "en_US-joe-medium.onnx.json").write_text("{}")
    assert run("verify").returncode == 1
    assert run("fetch", "no-such-model").returncode == 1
