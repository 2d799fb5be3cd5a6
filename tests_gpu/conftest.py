"""The GPU stack on this CPU machine (`make test-gpu-stack`, .venv-gpu): the CUDA image's Python set,
with the real chatterbox-tts and a checkpoint made from its own classes (random weights).

The checkpoint (3.2 GB, a few minutes to make on 2 cores) is made once and kept in
~/.cache/harvis-tests/, keyed by the chatterbox-tts version and the maker's settings.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
from pathlib import Path

import pytest

SPEECH_TOKENS = 25  # about one second of audio per sentence


def _cached_checkpoint() -> Path:
    from tests.support.chatterbox_checkpoint import make

    version = importlib.metadata.version("chatterbox-tts")
    root = Path.home() / ".cache" / "harvis-tests" / f"chatterbox-{version}-random-{SPEECH_TOKENS}"
    stamp = root / "README.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("speech_tokens") == SPEECH_TOKENS:
        return root
    shutil.rmtree(root, ignore_errors=True)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    make(partial, speech_tokens=SPEECH_TOKENS)
    partial.rename(root)
    return root


@pytest.fixture(scope="session")
def checkpoint() -> Path:
    assert importlib.util.find_spec("chatterbox") is not None, (
        "chatterbox-tts is missing: run these tests with `make test-gpu-stack` (.venv-gpu)"
    )
    return _cached_checkpoint()
