"""Fixtures shared by the test packages that run one voice backend each (tests/voice,
tests/protocols): its two users and the spoken questions. A package's conftest imports them
and defines its own `backend` fixture (anything with a `.url`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.backend import login, signup
from tests.support.voice_e2e import spoken_wav


@pytest.fixture(scope="package")
def alice(backend: Any) -> Iterator[httpx.Client]:
    client = login(backend.url, "alice", timeout=300)
    yield client
    client.close()


@pytest.fixture(scope="package")
def bob(backend: Any, alice: httpx.Client) -> Iterator[httpx.Client]:
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
