"""Downloading a model from a hub or a mirror: verified, resumable (HTTP Range), atomic.

For every file the expected size and hash come first (the catalogue's pins, else the hub's
metadata for the revision, else the manifest a mirror of a model cache serves); a file nothing
vouches for is refused before a byte of it is fetched. Bytes land in `NAME.part` inside the
model's staging directory; an interrupted transfer continues from there with a Range request,
in this run (a few attempts) or the next one. A finished file whose hash does not match is
deleted and refused, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harvis.models.manifest import MANIFEST, is_present, model_dir
from harvis.models.progress import Progress
from harvis.models.remote import RemoteFile, RemoteModel
from harvis.models.staging import CHUNK, FetchError, FetchResult, Staging

if TYPE_CHECKING:
    import httpx

ATTEMPTS = 3  # per file, in one run; each later attempt resumes with Range


@dataclass(frozen=True)
class Expected:
    """What one file must be, and who said so."""

    filename: str
    url: str
    size: int
    sha256: str = ""
    git_blob: str = ""  # the hub's ETag of a small (non-LFS) file: sha1 of "blob <size>\0<bytes>"
    vouched_by: str = ""


def _client(headers: dict[str, str]) -> httpx.Client:
    import httpx

    return httpx.Client(timeout=httpx.Timeout(30.0, read=120.0), headers=headers)


def _headers() -> dict[str, str]:
    headers = {"User-Agent": "harvis-models-fetch"}
    if token := os.environ.get("HF_TOKEN"):  # a secret from the environment, never from config
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _head(client: httpx.Client, url: str) -> httpx.Response:
    """The hub answers a resolve HEAD with its metadata, on a redirect (LFS) or directly."""
    import httpx

    try:
        response = client.head(url, follow_redirects=False)
        if response.status_code in (301, 302, 303, 307, 308) and "X-Linked-Etag" not in response.headers:
            response = client.head(url, follow_redirects=True)  # a plain moved mirror
    except httpx.HTTPError as exc:
        raise FetchError(f"HEAD {url}: {exc!r}") from None
    if response.status_code >= 400:
        raise FetchError(f"HEAD {url}: HTTP {response.status_code}")
    return response


def _etag(value: str | None) -> str:
    return (value or "").strip().removeprefix("W/").strip('"')


def plan(
    model: RemoteModel, client: httpx.Client, *, endpoint: str, base_url: str = "", revision: str = ""
) -> tuple[list[Expected], str]:
    """The expected files, and the source to record (the commit every file is fetched from)."""
    if base_url:
        return _plan_mirror(model, client, base_url.rstrip("/") + "/"), f"url {base_url}"
    rev = revision or model.revision
    out: list[Expected] = []
    for file in model.files:
        url = model.url_of(file, endpoint, rev)
        meta = _head(client, url)
        commit = meta.headers.get("X-Repo-Commit", "")
        if commit and commit != rev and not file.url:
            # A branch name: fetch this and every following file from the commit it names now.
            rev = commit
            url = model.url_of(file, endpoint, rev)
        size = int(meta.headers.get("X-Linked-Size") or meta.headers.get("Content-Length") or 0)
        lfs = _etag(meta.headers.get("X-Linked-Etag"))
        if file.sha256:
            out.append(
                Expected(file.filename, url, file.size or size, sha256=file.sha256, vouched_by="catalogue")
            )
        elif len(lfs) == 64:
            out.append(
                Expected(file.filename, url, size, sha256=lfs, vouched_by=f"hub LFS metadata at {rev}")
            )
        elif len(blob := _etag(meta.headers.get("ETag"))) == 40 and commit:
            out.append(Expected(file.filename, url, size, git_blob=blob, vouched_by=f"hub git blob at {rev}"))
        else:
            raise FetchError(
                f"{model.name}/{file.filename}: no checksum to verify it against (not pinned in the "
                f"catalogue, and {url} sent no hub metadata); fetch it from a model hub, or copy a "
                "model cache made by `harvis models fetch` with --from DIR"
            )
    return out, f"hub {model.repo}@{rev}"


def _plan_mirror(model: RemoteModel, client: httpx.Client, base: str) -> list[Expected]:
    """A URL that serves a model directory: pinned hashes, else the manifest it serves beside them."""
    import httpx

    pins: dict[str, Any] = {}
    if not model.pinned:
        url = base + MANIFEST
        try:
            response = client.get(url, follow_redirects=True)
            pins = dict(json.loads(response.text)["files"]) if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            pins = {}
        if not pins:
            raise FetchError(
                f"{model.name}: {base} serves no {MANIFEST} and the catalogue pins no sha256 for its files; "
                "serve a model directory made by `harvis models fetch`, or fetch from the hub"
            )
    out = []
    for file in model.files:
        pin = pins.get(file.filename) or {}
        sha256 = file.sha256 or str(pin.get("sha256", ""))
        size = file.size or int(pin.get("size", 0))
        if not sha256:
            raise FetchError(f"{model.name}: {base}{MANIFEST} does not list {file.filename}")
        out.append(
            Expected(file.filename, base + file.filename, size, sha256=sha256, vouched_by=base + MANIFEST)
        )
    return out


def fetch_remote(
    model: RemoteModel,
    models_dir: Path,
    *,
    hub_endpoint: str,
    base_url: str = "",
    revision: str = "",
    progress_stream: object = None,
    force: bool = False,
    attempts: int = ATTEMPTS,
) -> FetchResult:
    final = model_dir(model.name, models_dir)
    if is_present(final) and not force:
        return FetchResult(model.name, final, "present", 0)
    with Staging(final, resumable=True) as stage:
        if is_present(final) and not force:  # another fetch finished while we waited for its lock
            return FetchResult(model.name, final, "present", 0)
        if force:
            stage.discard()
        with _client(_headers()) as client:
            files, source = plan(model, client, endpoint=hub_endpoint, base_url=base_url, revision=revision)
            total = sum(f.size for f in files)
            with Progress(f"download {model.name}", total, progress_stream) as progress:
                for expected in files:
                    _fetch_file(client, expected, stage, progress, attempts)
        stage.commit(source)
    return FetchResult(model.name, final, "downloaded", total)


def _fetch_file(
    client: httpx.Client, expected: Expected, stage: Staging, progress: Progress, attempts: int
) -> None:
    import httpx

    done_path = stage.path / expected.filename
    part = stage.path / f"{expected.filename}.part"
    if done_path.is_file():  # finished by an earlier run that failed on a later file
        os.replace(done_path, part)
    if part.exists():
        progress.advance(part.stat().st_size)
    last: Exception | None = None
    for _ in range(max(1, attempts)):
        try:
            _transfer(client, expected, part, progress)
            break
        except (httpx.TransportError, httpx.StreamError) as exc:  # the connection dropped: resume
            last = exc
    else:
        have = part.stat().st_size if part.exists() else 0
        raise FetchError(
            f"{expected.filename}: download interrupted at {have} of {expected.size} bytes ({last!r}); "
            "run the same command again to resume"
        )
    digest = _verify(expected, part)
    os.replace(part, done_path)
    stage.record(expected.filename, digest, done_path.stat().st_size)


def _transfer(client: httpx.Client, expected: Expected, part: Path, progress: Progress) -> None:
    have = part.stat().st_size if part.exists() else 0
    if expected.size and have >= expected.size:
        return  # complete (or too long: _verify refuses it)
    headers = {"Range": f"bytes={have}-"} if have else {}
    with client.stream("GET", expected.url, headers=headers, follow_redirects=True) as response:
        resumed = response.status_code == 206 and response.headers.get("Content-Range", "").startswith(
            f"bytes {have}-"
        )
        if not resumed and response.status_code != 200:
            raise FetchError(f"GET {expected.url}: HTTP {response.status_code}")
        # 200 to a Range request: the server sends the whole file, so start it again.
        with open(part, "ab" if resumed else "wb") as out:
            for block in response.iter_bytes():  # as it arrives: a drop keeps what came
                out.write(block)
                progress.advance(len(block))
            out.flush()
            os.fsync(out.fileno())


def _verify(expected: Expected, path: Path) -> str:
    """The file's sha256 when it is what was expected; otherwise it is deleted and refused."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            sha256.update(block)
            blob.update(block)
    digest = sha256.hexdigest()
    problem = ""
    if expected.size and size != expected.size:
        problem = f"has {size} bytes, expected {expected.size}"
    elif expected.sha256 and digest != expected.sha256:
        problem = f"has sha256 {digest}, expected {expected.sha256}"
    elif expected.git_blob and blob.hexdigest() != expected.git_blob:
        problem = f"is git blob {blob.hexdigest()}, expected {expected.git_blob}"
    if problem:
        path.unlink()
        raise FetchError(
            f"{expected.filename} refused: it {problem} ({expected.vouched_by}); the download was deleted, "
            "run the same command to fetch it again"
        )
    return digest


def single_file(url: str, name: str, filename: str, sha256: str) -> RemoteModel:
    """A model of one file at a URL (for models outside the catalogue)."""
    return RemoteModel(
        name=name, kind="other", description=url, files=(RemoteFile(filename, url=url, sha256=sha256),)
    )
