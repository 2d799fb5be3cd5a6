"""One real `harvis serve` process (embedded LLM node, resident speech models) for the voice tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.backend import running_backend, signup
from tests.support.processes import Proc
from tests.support.voice_fixtures import alice, bob, question_dir, sky_question, story_question  # noqa: F401

VOICE_ENV = {
    "HARVIS_SPEECH__PRELOAD": "true",  # first turns do not pay the model loads
    "HARVIS_PIPELINE__FILLER_AFTER_S": "-1",
}


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_backend(tmp_path_factory.mktemp("voice-backend"), env=VOICE_ENV, timeout=300) as proc:
        signup(proc.url, "alice")  # the first account: admin
        yield proc
