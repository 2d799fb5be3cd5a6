"""Fixtures for the browser tests: one real Chromium, one real `harvis serve` (with its
embedded LLM node) per test session, and a fresh account and browser context per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.backend import DEFAULT_PASSWORD, login, running_backend, signup
from tests.support.browser import PageProblems, launched_chromium
from tests.support.processes import Proc

VIEWPORT = {"width": 1280, "height": 800}
# Assertions poll; 2 cores shared with model inference can make a step take seconds.
expect.set_options(timeout=20_000)


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and the async tests of later packages cannot start theirs beside it.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as browser:
        yield browser


@pytest.fixture(scope="package")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_backend(tmp_path_factory.mktemp("e2e-backend")) as proc:
        yield proc


@pytest.fixture(scope="package")
def admin(backend: Proc) -> Iterator[httpx.Client]:
    """The first account (admin), who opens sign-up so each test can have its own user."""
    signup(backend.url, "admin")
    client = login(backend.url, "admin")
    r = client.patch("/api/admin/settings", json={"allow_signup": True})
    assert r.status_code == 200, r.text
    yield client
    client.close()


@pytest.fixture
def account(backend: Proc, admin: httpx.Client) -> tuple[str, str]:
    username = f"u{uuid.uuid4().hex[:10]}"
    signup(backend.url, username)
    return username, DEFAULT_PASSWORD


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(chromium: Browser, problems: PageProblems) -> Iterator[Page]:
    context = chromium.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(30_000)
    page = context.new_page()
    problems.watch(page)
    try:
        yield page
    finally:
        context.close()
    assert problems.script_errors() == [], "the page raised errors"
    assert problems.failed_assets() == [], "static files failed to load"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(__file__).resolve().parents[2] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
