"""One real `harvis serve` process with the Wyoming front end beside the HTTP API (embedded LLM
node, resident speech models), for the protocol tests: Wyoming and OpenAI Realtime."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.backend import login, running_backend, signup
from tests.support.processes import Proc, free_port
from tests.support.voice_e2e import spoken_wav


@dataclass(frozen=True)
class Backend:
    proc: Proc
    wyoming_port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return self.proc.url


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    port = free_port()
    data_dir = tmp_path_factory.mktemp("protocols-backend")
    env = {
        "HARVIS_SPEECH__PRELOAD": "true",  # first requests do not pay the model loads
        "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
        "HARVIS_WYOMING__ENABLED": "true",
        "HARVIS_WYOMING__URI": f"tcp://127.0.0.1:{port}",
        "HARVIS_WYOMING__MAX_PAYLOAD_BYTES": str(64 * 1024),
        "HARVIS_WYOMING__MAX_TEXT_CHARS": "2000",
        "HARVIS_SPEECH__MAX_AUDIO_S": "20",
    }
    with running_backend(data_dir, env=env, timeout=300) as proc:
        signup(proc.url, "alice")  # the first account: admin, and the one Wyoming answers for
        yield Backend(proc, port, data_dir)


@pytest.fixture(scope="package")
def alice(backend: Backend) -> Iterator[httpx.Client]:
    client = login(backend.url, "alice", timeout=300)
    yield client
    client.close()


@pytest.fixture(scope="package")
def bob(backend: Backend, alice: httpx.Client) -> Iterator[httpx.Client]:
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
