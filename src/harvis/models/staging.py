"""Building one model directory in the cache so that a reader never sees half a model.

Files are written into a staging directory beside the final one, hashed as they are written, and
the staging directory is renamed into place in one step with its manifest. A download keeps its
staging directory (and the partial file in it) when it fails, so the next run resumes there; a
lock file keeps two fetches of one model (two init containers on one NFS cache) apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from harvis.models.manifest import MANIFEST
from harvis.models.progress import Progress

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


def copy_hashed(sources: Iterable[Readable], dst: Path, progress: Progress) -> tuple[str, int]:
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


class Staging:
    """A directory that becomes the model directory on commit.

    Not resumable: a fresh temp directory, removed on failure. Resumable: one fixed directory per
    model, kept on failure so that a later fetch continues where this one stopped.
    """

    def __init__(self, final: Path, *, resumable: bool = False) -> None:
        self.final = final
        self.resumable = resumable
        suffix = "partial" if resumable else uuid.uuid4().hex[:8]
        self.path = final.parent / f".staging-{final.name}-{suffix}"
        self.files: dict[str, dict[str, int | str]] = {}
        self._lock: IO[str] | None = None

    def __enter__(self) -> Staging:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        if self.resumable:
            self._lock = _acquire(self.final.parent / f".lock-{self.final.name}")
        self.path.mkdir(parents=True, exist_ok=self.resumable)
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None and not self.resumable:
            shutil.rmtree(self.path, ignore_errors=True)
        elif exc_type is not None and self.path.is_dir() and not any(self.path.iterdir()):
            self.path.rmdir()  # nothing to resume
        if self._lock is not None:
            self._lock.close()  # closing releases the flock

    def discard(self) -> None:
        """Start over: what an earlier run left is not wanted (--force)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True)

    def add(self, rel: str, sources: Iterable[Readable], progress: Progress, *, sha256: str = "") -> int:
        digest, size = copy_hashed(sources, self.path / rel, progress)
        if sha256 and digest != sha256:
            (self.path / rel).unlink(missing_ok=True)
            raise FetchError(f"{self.final.name}/{rel}: sha256 {digest} does not match the expected {sha256}")
        self.record(rel, digest, size)
        return size

    def record(self, rel: str, sha256: str, size: int) -> None:
        self.files[rel] = {"sha256": sha256, "size": size}

    def commit(self, source: str) -> None:
        manifest = {"name": self.final.name, "source": source, "files": self.files}
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        old = self.final.parent / f".old-{self.final.name}-{uuid.uuid4().hex[:8]}"
        if self.final.exists():  # a broken earlier copy: swap it out, then remove it
            os.replace(self.final, old)
        os.replace(self.path, self.final)
        shutil.rmtree(old, ignore_errors=True)


def _acquire(path: Path) -> IO[str]:
    handle = open(path, "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"waiting for another fetch of the same model to finish ({path})", file=sys.stderr, flush=True)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle
