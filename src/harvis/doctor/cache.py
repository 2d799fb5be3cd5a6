"""The model cache (HARVIS_MODELS_DIR; the NFS volume in the workstation topology):
writable, enough free space, and fast enough to read models from at start-up."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

from harvis.doctor.context import Context
from harvis.doctor.result import Check

LOW_FREE_BYTES = 5 * 1024**3
SLOW_MB_S = 50.0
READ_LIMIT = 256 * 1024**2
SCAN_LIMIT = 5000
EMPTYDIR_ADVICE = (
    "reading models from this volume is slow (NFS?). In Kubernetes switch the model cache to an "
    "emptyDir, filled by the init container on every start:\n"
    "  volumes:\n    - name: ml-models-cache\n      emptyDir:\n        sizeLimit: 50Gi\n"
    "(k8s-manifests/README.md, 'emptyDir fallback')"
)


def _largest_file(root: Path) -> Path | None:
    best: tuple[int, Path] | None = None
    for seen, path in enumerate(root.rglob("*")):
        if seen >= SCAN_LIMIT:
            break
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            if best is None or size > best[0]:
                best = (size, path)
    return best[1] if best else None


def read_speed(path: Path, limit: int = READ_LIMIT) -> tuple[int, float]:
    """Bytes read and MB/s, after asking the kernel to drop its cached pages of the file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        done, started = 0, time.perf_counter()
        while done < limit:
            chunk = os.read(fd, 4 * 1024**2)
            if not chunk:
                break
            done += len(chunk)
        elapsed = max(time.perf_counter() - started, 1e-6)
    finally:
        os.close(fd)
    return done, done / elapsed / 1e6


def _check(models_dir: Path) -> list[Check]:
    fix = "set HARVIS_MODELS_DIR to a writable directory (in Kubernetes: the volume mount)"
    if not models_dir.exists():
        parent = next((p for p in models_dir.parents if p.exists()), Path("/"))
        if parent.is_dir() and os.access(parent, os.W_OK):
            return [Check.ok("model cache", f"{models_dir} not created yet (created on first fetch)")]
        return [Check.fail("model cache", f"{models_dir} cannot be created under {parent}", fix)]
    if not models_dir.is_dir():
        return [Check.fail("model cache", f"{models_dir} is not a directory", fix)]
    results: list[Check] = []
    try:
        with tempfile.NamedTemporaryFile(dir=models_dir, prefix=".harvis-doctor-"):
            pass
    except OSError as exc:
        results.append(
            Check.fail(
                "model cache",
                f"{models_dir} is not writable: {exc.strerror}",
                "fix the volume's permissions (fsGroup 10001 in the pod spec) or the mount",
            )
        )
    else:
        free = shutil.disk_usage(models_dir).free
        text = f"{models_dir} writable, {free / 1024**3:.1f} GiB free"
        results.append(
            Check.warn(
                "model cache", text, "free space or grow the volume (models need GiBs)", free_bytes=free
            )
            if free < LOW_FREE_BYTES
            else Check.ok("model cache", text, free_bytes=free)
        )
    sample = _largest_file(models_dir)
    if sample is None:
        results.append(Check.skip("model cache read", "nothing cached yet to time"))
        return results
    size, mb_s = read_speed(sample)
    text = f"{mb_s:.0f} MB/s reading {size / 1e6:.0f} MB of {sample.name}"
    results.append(
        Check.warn("model cache read", f"slow: {text}", EMPTYDIR_ADVICE, mb_s=mb_s)
        if mb_s < SLOW_MB_S
        else Check.ok("model cache read", text, mb_s=mb_s)
    )
    return results


async def run(ctx: Context) -> list[Check]:
    return await asyncio.to_thread(_check, ctx.settings.resolved_models_dir)
