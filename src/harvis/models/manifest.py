"""The manifest each model directory in the cache carries: every file's size and sha256.

`harvis models fetch` writes it last, when the model is complete; readers (the engines, `verify`,
`list`) trust a directory only when its manifest's files are all there at their sizes.
"""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = ".harvis-manifest.json"


def model_dir(name: str, models_dir: Path) -> Path:
    return models_dir / name.replace(":", "-").replace("/", "-")


def read_manifest(directory: Path) -> dict[str, dict[str, int | str]] | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
        return dict(data["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_source(directory: Path) -> str:
    """Where the cached copy came from (e.g. `hub ResembleAI/chatterbox@<commit>`), or ''."""
    try:
        return str(json.loads((directory / MANIFEST).read_text()).get("source", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def is_present(directory: Path) -> bool:
    """Quick check (sizes, not hashes): every file the manifest names is there at its size."""
    files = read_manifest(directory)
    if not files:
        return False
    return all(
        (directory / rel).is_file() and (directory / rel).stat().st_size == info["size"]
        for rel, info in files.items()
    )


def size_problems(directory: Path) -> list[str]:
    """Files the manifest names that are missing or of the wrong size (a damaged copy)."""
    problems = []
    for rel, info in sorted((read_manifest(directory) or {}).items()):
        path = directory / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif path.stat().st_size != info["size"]:
            problems.append(f"{rel} has {path.stat().st_size} bytes, the manifest says {info['size']}")
    return problems
