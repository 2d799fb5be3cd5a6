"""Sessions: create, list newest first, rename, delete; another user's ids are 404."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer, signup_login


async def _two_users(client: httpx.AsyncClient) -> tuple[str, str]:
    alice = await signup_login(client, "alice")
    await client.patch("/api/admin/settings", json={"allow_signup": True}, headers=bearer(alice))
    return alice, await signup_login(client, "bob")


async def test_session_crud_and_order(client: httpx.AsyncClient) -> None:
    alice = await signup_login(client, "alice")
    first = (await client.post("/api/sessions", json={"title": "first"}, headers=bearer(alice))).json()
    second = (await client.post("/api/sessions", json={}, headers=bearer(alice))).json()
    assert second["title"] == "New chat" and first["model"] is None
    listed = (await client.get("/api/sessions", headers=bearer(alice))).json()
    assert [s["id"] for s in listed] == [second["id"], first["id"]]

    r = await client.patch(f"/api/sessions/{first['id']}", json={"title": "renamed"}, headers=bearer(alice))
    assert r.status_code == 200 and r.json()["title"] == "renamed"
    listed = (await client.get("/api/sessions", headers=bearer(alice))).json()
    assert listed[0]["id"] == first["id"], "a renamed session moves to the top"
    assert (await client.get(f"/api/sessions/{first['id']}/messages", headers=bearer(alice))).json() == []

    assert (await client.delete(f"/api/sessions/{first['id']}", headers=bearer(alice))).status_code == 204
    assert (await client.get(f"/api/sessions/{first['id']}", headers=bearer(alice))).status_code == 404


async def test_other_users_sessions_are_not_found(client: httpx.AsyncClient) -> None:
    alice, bob = await _two_users(client)
    sid = (await client.post("/api/sessions", json={"title": "secret"}, headers=bearer(alice))).json()["id"]
    attempts = [
        client.get(f"/api/sessions/{sid}", headers=bearer(bob)),
        client.get(f"/api/sessions/{sid}/messages", headers=bearer(bob)),
        client.patch(f"/api/sessions/{sid}", json={"title": "mine"}, headers=bearer(bob)),
        client.delete(f"/api/sessions/{sid}", headers=bearer(bob)),
        client.post("/api/chat", json={"session_id": sid, "message": "hi"}, headers=bearer(bob)),
    ]
    for attempt in attempts:
        r = await attempt
        assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found", r.text
    assert (await client.get("/api/sessions", headers=bearer(bob))).json() == []
    own = (await client.get(f"/api/sessions/{sid}", headers=bearer(alice))).json()
    assert own["title"] == "secret"


async def test_patch_validates(client: httpx.AsyncClient) -> None:
    alice = await signup_login(client, "alice")
    sid = (await client.post("/api/sessions", json={}, headers=bearer(alice))).json()["id"]
    r = await client.patch(f"/api/sessions/{sid}", json={"title": ""}, headers=bearer(alice))
    assert r.status_code == 422
    r = await client.patch(f"/api/sessions/{sid}", json={"title": "x" * 201}, headers=bearer(alice))
    assert r.status_code == 422
