"""The data dir holds conversations, voice recordings and the signing key: owner-only (0700
for directories, 0600 for files), also for a data dir made before this rule existed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
PRIVATE_UMASK = 0o077


def make_private(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [data_dir, *data_dir.glob("harvis.db*")]
    voices = data_dir / "voices"
    if voices.is_dir():
        paths += [voices, *voices.rglob("*")]
    for path in paths:
        try:
            if path.is_symlink():
                continue
            os.chmod(path, 0o700 if path.is_dir() else 0o600)
        except OSError as exc:  # a file owned by someone else: say so, keep serving
            log.warning("could not make %s private: %s", path, exc)
