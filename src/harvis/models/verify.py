"""Check the model cache: every file against its recorded sha256, and how fast the cache reads."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from harvis.models import catalog
from harvis.models.cache import CHUNK, read_manifest


@dataclass(frozen=True)
class Check:
    name: str
    path: Path
    ok: bool
    detail: str
    bytes: int = 0


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def verify_dir(directory: Path) -> Check:
    files = read_manifest(directory)
    if files is None:
        return Check(directory.name, directory, False, "no manifest: not made by `harvis models fetch`")
    problems: list[str] = []
    total = 0
    for rel, info in sorted(files.items()):
        path = directory / rel
        if not path.is_file():
            problems.append(f"{rel} missing")
            continue
        total += path.stat().st_size
        if path.stat().st_size != info["size"]:
            problems.append(f"{rel} has {path.stat().st_size} bytes, expected {info['size']}")
        elif sha256_of(path) != info["sha256"]:
            problems.append(f"{rel} sha256 mismatch")
    detail = "; ".join(problems) if problems else f"{len(files)} files ok"
    return Check(directory.name, directory, not problems, detail, total)


def verify(models_dir: Path, names: list[str] | None = None) -> list[Check]:
    """Every cached model (or the named ones), plus in-place package models with a known hash."""
    checks: list[Check] = []
    wanted = set(names or ())
    if models_dir.is_dir():
        for directory in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not wanted or directory.name in {n.replace(":", "-") for n in wanted}:
                checks.append(verify_dir(directory))
    seen = {c.name for c in checks}
    for entry in catalog.CATALOG.values():
        safe = entry.name.replace(":", "-")
        if safe in seen or entry.assembled or not entry.sha256 or (wanted and entry.name not in wanted):
            continue
        found = entry.parts[0].locate()
        if found is None:
            if wanted:
                checks.append(Check(entry.name, Path(entry.parts[0].where()), False, "not installed"))
            continue
        ok = sha256_of(found) == entry.sha256
        detail = "in place, sha256 ok" if ok else "in place, sha256 MISMATCH"
        checks.append(Check(entry.name, found, ok, detail, found.stat().st_size))
    return checks


@dataclass(frozen=True)
class Speed:
    bytes: int
    seconds: float

    @property
    def mb_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else float("inf")


def read_speed(models_dir: Path, *, limit_bytes: int = 512 * 1024 * 1024) -> Speed:
    """Read the cache's files (up to `limit_bytes`) as a model load would, page cache dropped first
    where the OS allows, so the figure is the storage's, not memory's."""
    files = sorted(
        (p for p in models_dir.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: -p.stat().st_size,
    )
    done, t0 = 0, time.perf_counter()
    for path in files:
        if done >= limit_bytes:
            break
        fd = os.open(path, os.O_RDONLY)
        try:
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            while done < limit_bytes and (block := os.read(fd, CHUNK)):
                done += len(block)
        finally:
            os.close(fd)
    return Speed(done, time.perf_counter() - t0)


def speed_advice(speed: Speed, min_mb_s: float) -> str | None:
    if speed.mb_s >= min_mb_s:
        return None
    return (
        f"the model cache reads at {speed.mb_s:.0f} MB/s, below {min_mb_s:.0f} MB/s: model loads will be "
        "slow. Use an emptyDir volume for HARVIS_MODELS_DIR and fill it with an init container that runs "
        "`harvis models fetch` (from the bundled packages, or from this NFS cache mounted read-only)."
    )
