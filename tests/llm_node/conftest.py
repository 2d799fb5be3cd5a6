"""One real node (real model, one thread) shared by the tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.llm_node import llm_node
from tests.support.processes import Proc


@pytest.fixture(scope="session")
def node() -> Iterator[Proc]:
    with llm_node() as proc:
        yield proc


@pytest.fixture
def http(node: Proc) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=120.0) as client:
        yield client
