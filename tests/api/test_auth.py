"""Accounts, tokens, cookies, API keys and the login rate limit, through the real app."""

from __future__ import annotations

import httpx

from tests.api.conftest import PASSWORD, bearer, signup_login


async def test_first_account_is_admin_and_later_signups_need_an_admin(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/config")).json() == {"signup_open": True, "first_user": True}
    admin = await signup_login(client, "admin")
    assert (await client.get("/api/auth/me", headers=bearer(admin))).json()["is_admin"] is True
    assert (await client.get("/api/auth/config")).json() == {"signup_open": False, "first_user": False}

    r = await client.post("/api/auth/signup", json={"username": "bob", "password": PASSWORD})
    assert r.status_code == 403 and r.json()["error"]["code"] == "signup_disabled"

    r = await client.patch("/api/admin/settings", json={"allow_signup": True}, headers=bearer(admin))
    assert r.status_code == 200 and r.json() == {"allow_signup": True}
    bob = await signup_login(client, "bob")
    me = (await client.get("/api/auth/me", headers=bearer(bob))).json()
    assert me["username"] == "bob" and me["is_admin"] is False
    r = await client.patch("/api/admin/settings", json={"allow_signup": False}, headers=bearer(bob))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


async def test_signup_rejects_weak_passwords_bad_names_and_duplicates(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/auth/signup", json={"username": "alice", "password": "short"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "weak_password"
    r = await client.post("/api/auth/signup", json={"username": "al ice<script>", "password": PASSWORD})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_username"
    await signup_login(client, "alice")
    await client.patch("/api/admin/settings", json={"allow_signup": True})  # no credential: refused
    r = await client.post("/api/auth/signup", json={"username": "alice", "password": PASSWORD})
    assert r.status_code in (403, 409)


async def test_login_sets_an_httponly_lax_cookie_that_authenticates(client: httpx.AsyncClient) -> None:
    await signup_login(client, "alice")
    r = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    body = r.json()
    assert body["token_type"] == "bearer" and body["user"]["username"] == "alice"
    cookie = r.headers["set-cookie"].lower()
    assert "harvis_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert (await client.get("/api/auth/me")).status_code == 200  # the cookie alone


async def test_logout_revokes_the_token(client: httpx.AsyncClient) -> None:
    token = await signup_login(client, "alice")
    assert (await client.get("/api/auth/me", headers=bearer(token))).status_code == 200
    assert (await client.post("/api/auth/logout", headers=bearer(token))).status_code == 204
    r = await client.get("/api/auth/me", headers=bearer(token))
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"


async def test_forged_and_missing_credentials_are_401(client: httpx.AsyncClient) -> None:
    token = await signup_login(client, "alice")
    header, payload, _sig = token.split(".")
    for credential in (None, "nonsense", f"{header}.{payload}.forged", "hv-not-a-real-key"):
        headers = bearer(credential) if credential else {}
        r = await client.get("/api/sessions", headers=headers)
        assert r.status_code == 401, credential
        assert set(r.json()["error"]) == {"code", "message"}


async def test_login_is_rate_limited_with_retry_after(client: httpx.AsyncClient) -> None:
    await signup_login(client, "alice")
    for _ in range(3):  # the fixture allows 3 attempts a minute
        r = await client.post("/api/auth/login", json={"username": "alice", "password": "wrong-password"})
        assert r.status_code == 401
    r = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 429, "even the right password waits once the window is full"
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Another username from the same address is not blocked.
    r = await client.post("/api/auth/login", json={"username": "someone", "password": "x"})
    assert r.status_code == 401


async def test_api_keys_are_shown_once_and_deletion_revokes_them(client: httpx.AsyncClient) -> None:
    alice = await signup_login(client, "alice")
    r = await client.post("/api/keys", json={"name": "laptop"}, headers=bearer(alice))
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith("hv-") and created["name"] == "laptop"
    listed = (await client.get("/api/keys", headers=bearer(alice))).json()
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and listed[0]["last_used_at"] is None

    assert (await client.get("/api/auth/me", headers=bearer(created["key"]))).json()["username"] == "alice"
    listed = (await client.get("/api/keys", headers=bearer(alice))).json()
    assert listed[0]["last_used_at"] is not None

    assert (await client.delete(f"/api/keys/{created['id']}", headers=bearer(alice))).status_code == 204
    assert (await client.get("/api/auth/me", headers=bearer(created["key"]))).status_code == 401
    assert (await client.delete(f"/api/keys/{created['id']}", headers=bearer(alice))).status_code == 404


async def test_racing_first_signups_make_exactly_one_admin(client: httpx.AsyncClient) -> None:
    import asyncio

    results = await asyncio.gather(
        *(
            client.post("/api/auth/signup", json={"username": f"racer{i}", "password": PASSWORD})
            for i in range(4)
        )
    )
    created = [r.json() for r in results if r.status_code == 201]
    assert [u["is_admin"] for u in created] == [True], [r.status_code for r in results]
    assert all(r.json()["error"]["code"] == "signup_disabled" for r in results if r.status_code != 201)
