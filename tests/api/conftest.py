"""In-process app for the API's own rules (auth, errors, ownership): the real app, the real
store and the real router, driven through ASGI. The LLM node is deliberately absent here;
tests that need answers use real processes (test_backend_process.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from harvis.api.app import create_app
from harvis.config import AuthSettings, Settings
from harvis.llm.router import Router
from tests.support.processes import free_port

PASSWORD = "correct-horse-battery"


def make_settings(data_dir: Path, **auth: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        secret_key="test-secret-" + "x" * 32,
        ollama_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        auth=AuthSettings(**auth),  # type: ignore[arg-type]
    )


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = make_settings(tmp_path, login_attempts_per_minute=3)
    router = Router.from_settings(settings)
    application = create_app(settings, router=router, start_node=False)
    await router.start()
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await router.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


async def signup_login(client: httpx.AsyncClient, username: str) -> str:
    """Signs up (opening sign-up as the admin when needed) and returns a bearer token."""
    r = await client.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # tests say explicitly which credential they use
    return str(r.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
