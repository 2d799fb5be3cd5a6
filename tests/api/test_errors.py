"""Bad input gets a 4xx with the JSON error shape, never a 500 or a stack trace."""

from __future__ import annotations

import httpx

from tests.api.conftest import bearer, signup_login


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code
    assert "Traceback" not in r.text


async def test_bad_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/auth/login", content=b'{"username": ', headers={"content-type": "application/json"}
    )
    assert_error(r, 400, "invalid_json")


async def test_missing_and_wrong_fields_are_422(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/api/auth/login", json={"username": "x"}), 422, "validation_error")
    assert_error(await client.post("/api/auth/login", json=["not", "an", "object"]), 422, "validation_error")
    token = await signup_login(client, "alice")
    r = await client.post("/api/chat", json={"message": ""}, headers=bearer(token))
    assert_error(r, 422, "validation_error")


async def test_unknown_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/no-such-thing"), 404, "not_found")
    assert_error(await client.delete("/api/auth/me"), 405, "method_not_allowed")


async def test_too_large_body_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"message": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    r = await client.post("/api/chat", content=big, headers={"content-type": "application/json"})
    assert_error(r, 413, "too_large")


async def test_openai_paths_use_openai_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 401
    error = r.json()["error"]
    assert error["type"] == "authentication_error" and "param" in error and error["message"]


async def test_ready_says_what_is_missing(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    r = await client.get("/health/ready")
    assert r.status_code == 503  # the fixture's router points at a port where nothing listens
    body = r.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["llm"]["ok"] is False and body["checks"]["llm"]["detail"]


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    token = await signup_login(client, "alice")
    await client.get("/api/sessions/abc123/messages", headers=bearer(token))
    text = (await client.get("/metrics")).text
    assert 'route="/api/sessions/{session_id}/messages",status="404"' in text
    assert "harvis_http_request_duration_seconds_bucket" in text
    assert "abc123" not in text


async def test_responses_carry_security_headers(client: httpx.AsyncClient) -> None:
    for r in (await client.get("/health/live"), await client.get("/api/no-such-thing")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        # A laptop has no nginx: the backend itself forbids inline and foreign scripts.
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
