"""The real app in this process (TestClient runs its lifespan), on a temp SQLite store, with
an LLM address where nothing listens: for rules that need no model (auth, CORS, routes)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from harvis.api.app import create_app
from harvis.config import AuthSettings, Settings
from tests.support.processes import free_port

PASSWORD = "correct-horse-battery"


@contextmanager
def app_client(data_dir: Path, **auth: object) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=data_dir,
        secret_key="security-tests-" + "k" * 32,
        ollama_url=f"http://127.0.0.1:{free_port()}",
        auth=AuthSettings(**auth),
    )
    with TestClient(create_app(settings, start_node=False), base_url="http://testserver") as client:
        yield client


def account(client: TestClient, username: str) -> str:
    """Signs `username` up (the first account is the admin, who then opens sign-up) and
    returns a bearer token; the client keeps no cookie."""
    r = client.post("/api/auth/signup", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    token = str(r.json()["access_token"])
    if r.json()["user"]["is_admin"]:
        r = client.patch("/api/admin/settings", json={"allow_signup": True}, headers=bearer(token))
        assert r.status_code == 200, r.text
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
