"""The token-signing secret: HARVIS_SECRET_KEY, else one generated once and kept in the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from harvis.config import Settings

SECRET_FILE = "secret_key"


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / SECRET_FILE
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Created 0600 from the start: never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return value


def resolve_secret(settings: Settings) -> str:
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value()
    return load_or_create_secret(settings.data_dir)
