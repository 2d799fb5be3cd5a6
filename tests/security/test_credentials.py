"""Credentials that must stop working (expired tokens, logged-out tokens, deleted API keys),
the sign-in rate limit, and CORS only where configured. The real app, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.security.inprocess import PASSWORD, account, app_client, bearer
from tests.support.processes import wait_until


def socket_refuses(client: object, credential: str) -> None:
    with client.websocket_connect(f"/api/voice/ws?token={credential}") as ws:  # type: ignore[attr-defined]
        event = json.loads(ws.receive_text())
        assert event["type"] == "error" and event["code"] == "unauthorized", event
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_an_expired_token_is_refused_everywhere(tmp_path: Path) -> None:
    with app_client(tmp_path, token_ttl_s=6) as client:
        token = account(client, "shortlived")
        assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
        wait_until(
            lambda: client.get("/api/auth/me", headers=bearer(token)).status_code == 401,
            timeout=30,
            what="the token expires",
            every=0.25,
        )
        for method, path in (("GET", "/api/sessions"), ("GET", "/v1/models"), ("POST", "/api/keys")):
            r = client.request(method, path, headers=bearer(token), json={"name": "k"})
            assert r.status_code == 401, (path, r.status_code)
        client.cookies.set("harvis_session", token)
        assert client.get("/api/auth/me").status_code == 401, "an expired cookie is refused too"
        client.cookies.clear()
        socket_refuses(client, token)


def test_logged_out_tokens_and_deleted_keys_are_refused_everywhere(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "leaver")
        key = client.post("/api/keys", json={"name": "gone"}, headers=bearer(token)).json()
        assert client.get("/v1/models", headers=bearer(key["key"])).status_code == 200
        assert client.delete(f"/api/keys/{key['id']}", headers=bearer(token)).status_code == 204
        for credential in (key["key"],):
            assert client.get("/api/auth/me", headers=bearer(credential)).status_code == 401
            assert client.get("/v1/models", headers=bearer(credential)).status_code == 401
            socket_refuses(client, credential)
        assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
        assert client.get("/api/sessions", headers=bearer(token)).status_code == 401
        assert client.post("/api/keys", json={"name": "x"}, headers=bearer(token)).status_code == 401
        socket_refuses(client, token)


def test_sign_in_rate_limit_holds_against_header_tricks(tmp_path: Path) -> None:
    with app_client(tmp_path, login_attempts_per_minute=3) as client:
        account(client, "target")
        for _ in range(3):
            r = client.post("/api/auth/login", json={"username": "target", "password": "guess-guess-guess"})
            assert r.status_code == 401
        tricks = [
            {},
            {"X-Forwarded-For": "203.0.113.9"},
            {"X-Real-IP": "198.51.100.7"},
            {"Forwarded": "for=192.0.2.1"},
        ]
        for headers in tricks:
            for username in ("target", "TARGET"):
                r = client.post(
                    "/api/auth/login", headers=headers, json={"username": username, "password": PASSWORD}
                )
                assert r.status_code == 429, (headers, username, r.status_code)
                assert r.json()["error"]["code"] == "rate_limited"
                assert 1 <= int(r.headers["retry-after"]) <= 60
        # The limit is per account and address: other users can still sign in.
        account(client, "bystander")


PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def test_no_cors_when_none_is_configured(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        for origin in ("https://evil.example", "null", "http://localhost:3000"):
            r = client.options("/api/auth/login", headers={"Origin": origin, **PREFLIGHT})
            assert "access-control-allow-origin" not in r.headers, origin
            r = client.get("/api/auth/config", headers={"Origin": origin})
            assert "access-control-allow-origin" not in r.headers, origin


def test_cors_only_for_the_configured_origin(tmp_path: Path) -> None:
    allowed = "https://app.example"
    with app_client(tmp_path, cors_origins=allowed) as client:
        r = client.options("/api/auth/login", headers={"Origin": allowed, **PREFLIGHT})
        assert r.status_code in (200, 204), r.text
        assert r.headers.get("access-control-allow-origin") == allowed, dict(r.headers)
        r = client.get("/api/auth/config", headers={"Origin": allowed})
        assert r.headers.get("access-control-allow-origin") == allowed
        for origin in ("https://evil.example", "https://app.example.evil.example", "null"):
            r = client.options("/api/auth/login", headers={"Origin": origin, **PREFLIGHT})
            assert r.headers.get("access-control-allow-origin") not in (origin, "*"), origin
            r = client.get("/api/auth/config", headers={"Origin": origin})
            assert r.headers.get("access-control-allow-origin") not in (origin, "*"), origin
