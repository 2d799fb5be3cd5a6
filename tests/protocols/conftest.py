"""One real `harvis serve` process with the Wyoming front end beside the HTTP API (embedded LLM
node, resident speech models), for the protocol tests: Wyoming and OpenAI Realtime."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.backend import running_backend, signup
from tests.support.processes import Proc, free_port
from tests.support.voice_fixtures import alice, bob, question_dir, sky_question, story_question  # noqa: F401


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
