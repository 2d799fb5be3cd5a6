from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_ollama import Behaviour, FakeOllama


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOllama]:
    fake = FakeOllama(models=("smollm2:135m", "other:1b")).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake(fake_server: FakeOllama) -> FakeOllama:
    """The module's fake node, reset to good behaviour for each test."""
    fake_server.behaviour = Behaviour()
    fake_server.per_model.clear()
    fake_server.seen.clear()
    fake_server.loaded = []
    fake_server.models = ["smollm2:135m", "other:1b"]
    fake_server.release.clear()
    fake_server.max_in_flight = 0
    return fake_server
