"""A lone UTF-16 surrogate ("a\\ud800b", valid JSON) in any string field of a JSON body is a
422 at the edge, on every route, instead of a 500 from the database, the node client or the
response encoder; the server keeps serving."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from harvis.api.app import ROUTERS
from harvis.api.routing import TextCheckedRoute, lone_surrogate_at
from tests.security.inprocess import account, app_client, bearer

LONE = "a\\ud800b"  # the JSON escape, sent as raw bytes: no encoder on our side may refuse it


def body(template: str) -> bytes:
    return template.replace("LONE", LONE).encode()


CASES = [
    ("post", "/api/sessions", '{"title": "LONE"}'),
    ("post", "/api/chat", '{"message": "hi", "model": "LONE"}'),
    ("post", "/api/chat", '{"message": "LONE"}'),
    ("post", "/v1/chat/completions", '{"model": "m", "messages": [{"role": "user", "content": "LONE"}]}'),
    (
        "post",
        "/v1/chat/completions",
        '{"model": "m", "stream": true, "messages": [{"role": "user", "content": "LONE"}]}',
    ),
    (
        "post",
        "/v1/chat/completions",
        '{"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "LONE"}]}]}',
    ),
    (
        "post",
        "/v1/chat/completions",
        '{"model": "m", "messages": [{"role": "user", "content": "x"}], "LONE": 1}',
    ),
    ("post", "/api/keys", '{"name": "LONE"}'),
]


@pytest.mark.parametrize(("method", "path", "template"), CASES)
def test_lone_surrogates_are_422_everywhere(tmp_path: Path, method: str, path: str, template: str) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        headers = {**bearer(token), "Content-Type": "application/json"}
        r = client.request(method, path, content=body(template), headers=headers)
        assert r.status_code == 422, (path, r.status_code, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error" and "surrogate" in error["message"]
        assert client.get("/api/sessions", headers=bearer(token)).status_code == 200


def test_a_session_rename_with_a_lone_surrogate_is_422(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        created = client.post("/api/sessions", json={"title": "fine"}, headers=bearer(token))
        sid = created.json()["id"]
        headers = {**bearer(token), "Content-Type": "application/json"}
        r = client.patch(f"/api/sessions/{sid}", content=body('{"title": "LONE"}'), headers=headers)
        assert r.status_code == 422, r.text
        assert client.get(f"/api/sessions/{sid}", headers=bearer(token)).json()["title"] == "fine"


def test_paired_surrogates_and_other_text_pass(tmp_path: Path) -> None:
    with app_client(tmp_path) as client:
        token = account(client, "alice")
        headers = {**bearer(token), "Content-Type": "application/json"}
        r = client.post(
            "/api/sessions", content=b'{"title": "smile \\ud83d\\ude00 caf\\u00e9"}', headers=headers
        )
        assert r.status_code == 201, r.text
        assert r.json()["title"] == "smile \U0001f600 café"


def test_every_http_route_checks_text_at_the_edge() -> None:
    routes = [r for module in ROUTERS for r in module.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 20
    plain = [r.path for r in routes if not isinstance(r, TextCheckedRoute)]
    assert not plain, f"routes without the text check (use harvis.api.routing.api_router): {plain}"


def test_the_walk_finds_nested_keys_and_values() -> None:
    assert lone_surrogate_at({"a": [1, {"b": "ok", "c": "x\ud800"}]}) == "body.a.1.c"
    assert lone_surrogate_at({"\udfff": 1}) == "body"
    assert lone_surrogate_at({"a": ["\U0001f600", 1.5, None, True]}) is None
