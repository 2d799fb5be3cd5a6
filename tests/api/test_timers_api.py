"""The timer endpoints in process (the real app and store): auth on every route, the error
shape for bad input, and one user's timers kept from another."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer, signup_login


async def _two_users(client: httpx.AsyncClient) -> tuple[str, str]:
    alice = await signup_login(client, "alice")
    await client.patch("/api/admin/settings", json={"allow_signup": True}, headers=bearer(alice))
    return alice, await signup_login(client, "bob")


def _error(r: httpx.Response, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    return str(body["error"]["message"])


async def test_every_timer_route_needs_a_credential(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/timers"),
        ("POST", "/api/timers"),
        ("DELETE", "/api/timers/0123456789abcdef0123456789abcdef"),
        ("GET", "/api/timers/events"),
    ]:
        r = await client.request(method, path, json={"seconds": 5} if method == "POST" else None)
        _error(r, 401, "unauthorized")
        r = await client.request(method, path, headers=bearer("not-a-token"))
        _error(r, 401, "unauthorized")


async def test_set_list_cancel_and_bad_input(client: httpx.AsyncClient) -> None:
    alice, bob = await _two_users(client)
    r = await client.post(
        "/api/timers", json={"seconds": 60, "label": "tea", "timezone": "Europe/Paris"}, headers=bearer(alice)
    )
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["message"].startswith("Timer 'tea' set for 1 minute; it ends at "), made
    timer = made["timer"]
    assert timer["kind"] == "timer" and timer["text"] == "tea" and timer["status"] == "active"
    r = await client.post(
        "/api/timers",
        json={"kind": "reminder", "text": "call mum", "when": "in 2 hours"},
        headers=bearer(alice),
    )
    assert r.status_code == 201 and r.json()["message"].startswith("Reminder set for "), r.text

    listed = (await client.get("/api/timers", headers=bearer(alice))).json()["timers"]
    assert [(t["kind"], t["text"]) for t in listed] == [("timer", "tea"), ("reminder", "call mum")]
    assert (await client.get("/api/timers", headers=bearer(bob))).json() == {"timers": []}

    # bob can neither see nor cancel alice's timer: 404, as for an id that does not exist
    _error(await client.delete(f"/api/timers/{timer['id']}", headers=bearer(bob)), 404, "timer_not_found")
    _error(await client.delete("/api/timers/nope", headers=bearer(alice)), 404, "timer_not_found")
    r = await client.delete(f"/api/timers/{timer['id']}", headers=bearer(alice))
    assert r.status_code == 204, r.text
    _error(await client.delete(f"/api/timers/{timer['id']}", headers=bearer(alice)), 409, "timer_not_active")
    listed = (await client.get("/api/timers", headers=bearer(alice))).json()["timers"]
    assert [t["text"] for t in listed] == ["call mum"]

    bad = [
        ({"seconds": 0}, "bad_timer", "from 1 second to 7 days"),
        ({"duration": "a while"}, "bad_timer", "could not read 'a while' as a duration"),
        ({"seconds": 5, "timezone": "Nowhere/Land"}, "bad_timer", "unknown time zone"),
        ({"kind": "reminder", "text": "x"}, "bad_timer", "'when' is a time"),
        ({"kind": "alarm", "seconds": 5}, "validation_error", ""),
        ({"seconds": 5, "colour": "red"}, "validation_error", ""),
    ]
    for body, code, said in bad:
        message = _error(await client.post("/api/timers", json=body, headers=bearer(alice)), 422, code)
        assert said in message, (body, message)
    # a session is only named by its owner
    sid = (await client.post("/api/sessions", json={}, headers=bearer(alice))).json()["id"]
    r = await client.post("/api/timers", json={"seconds": 5, "session_id": sid}, headers=bearer(bob))
    _error(r, 404, "session_not_found")
    r = await client.post("/api/timers", json={"seconds": 5, "session_id": sid}, headers=bearer(alice))
    assert r.status_code == 201 and r.json()["timer"]["session_id"] == sid
