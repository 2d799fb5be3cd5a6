"""API keys end when what they came from ends: logging out the sign-in a key was made with,
deleting the key that made it, `harvis users set-password` and `harvis users sign-out`. An
admin's API key carries no admin rights."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.security.inprocess import PASSWORD, account, app_client, bearer
from tests.store.test_users_cli import harvis_users


def new_key(client: TestClient, credential: str, name: str = "k") -> str:
    r = client.post("/api/keys", json={"name": name}, headers=bearer(credential))
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def works(client: TestClient, credential: str) -> bool:
    status = client.get("/api/auth/me", headers=bearer(credential)).status_code
    assert status in (200, 401), status
    return status == 200


def second_sign_in(client: TestClient, username: str) -> str:
    r = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return str(r.json()["access_token"])


def test_logout_ends_the_keys_made_with_that_sign_in(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        other = second_sign_in(client, "alice")
        key = new_key(client, token)
        grandchild = new_key(client, key)
        kept = new_key(client, other)
        assert all(works(client, c) for c in (key, grandchild, kept))
        assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
        assert not works(client, key) and not works(client, grandchild)
        assert works(client, kept) and works(client, other)
        listed = [k["name"] for k in client.get("/api/keys", headers=bearer(other)).json()]
        assert listed == ["k"]


def test_deleting_a_key_ends_every_key_it_made(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        parent = new_key(client, token, "parent")
        child = new_key(client, parent, "child")
        grandchild = new_key(client, child, "grandchild")
        sibling = new_key(client, token, "sibling")
        keys = {k["name"]: k["id"] for k in client.get("/api/keys", headers=bearer(token)).json()}
        assert client.delete(f"/api/keys/{keys['parent']}", headers=bearer(token)).status_code == 204
        assert not any(works(client, c) for c in (parent, child, grandchild))
        assert works(client, sibling) and works(client, token)


def test_an_admins_key_cannot_use_admin_routes(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "root")  # the first account: admin
        key = new_key(client, token)
        for method in ("get", "patch"):
            r = client.request(
                method, "/api/admin/settings", json={"allow_signup": False}, headers=bearer(key)
            )
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "key_not_allowed"
        r = client.patch("/api/admin/settings", json={"allow_signup": False}, headers=bearer(token))
        assert r.status_code == 200 and r.json() == {"allow_signup": False}
        assert works(client, key)  # the key still acts as the user elsewhere


def test_set_password_and_sign_out_end_sessions_and_keys(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        account(client, "root")
        token = account(client, "bob")
        key = new_key(client, token)
        r = harvis_users(tmp_path, "set-password", "bob", "--password-stdin", stdin="new-password-456\n")
        assert r.returncode == 0, r.stderr
        assert "1 session(s) signed out and 1 API key(s) deleted" in r.stdout
        assert not works(client, token) and not works(client, key)

        r = client.post("/api/auth/login", json={"username": "bob", "password": "new-password-456"})
        assert r.status_code == 200, r.text
        client.cookies.clear()
        fresh = str(r.json()["access_token"])
        fresh_key = new_key(client, fresh)
        r = harvis_users(tmp_path, "sign-out", "bob")
        assert r.returncode == 0, r.stderr
        assert "bob: 1 session(s) signed out and 1 API key(s) deleted" in r.stdout
        assert not works(client, fresh) and not works(client, fresh_key)
