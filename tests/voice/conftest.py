"""One real `harvis serve` process (embedded LLM node, resident speech models) for the voice tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.backend import login, running_backend, signup
from tests.support.processes import Proc
from tests.support.voice_e2e import spoken_wav

VOICE_ENV = {
    "HARVIS_SPEECH__PRELOAD": "true",  # first turns do not pay the model loads
    "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
}


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_backend(tmp_path_factory.mktemp("voice-backend"), env=VOICE_ENV, timeout=300) as proc:
        signup(proc.url, "alice")  # the first account: admin
        yield proc


@pytest.fixture(scope="package")
def alice(backend: Proc) -> Iterator[httpx.Client]:
    client = login(backend.url, "alice", timeout=300)
    yield client
    client.close()


@pytest.fixture(scope="package")
def bob(backend: Proc, alice: httpx.Client) -> Iterator[httpx.Client]:
    r = alice.patch("/api/admin/settings", json={"allow_signup": True})
    assert r.status_code == 200, r.text
    signup(backend.url, "bob")
    client = login(backend.url, "bob", timeout=300)
    yield client
    client.close()


@pytest.fixture(scope="package")
def question_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("questions")


@pytest.fixture(scope="package")
def sky_question(question_dir: Path) -> bytes:
    return spoken_wav("What color is the sky on a clear day?", question_dir / "sky.wav")


@pytest.fixture(scope="package")
def story_question(question_dir: Path) -> bytes:
    return spoken_wav("Tell me a long story about a brave dragon.", question_dir / "story.wav")
