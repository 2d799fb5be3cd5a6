"""Walk EVERY route of the real app (HTTP and WebSocket) and check which ones need a
credential: all but health, metrics, login, signup, auth config, the API docs and the static
UI. New routes are walked automatically: adding an unprotected one fails this test."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from tests.security.inprocess import account, app_client, bearer

PUBLIC = {
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/signup"),
    ("GET", "/api/auth/config"),
    # API documentation: the schema, no user data (a decision: see SECURITY.md).
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/init.js"),
}
# Routes that must exist: a walk that finds none of them walked the wrong app.
MUST_EXIST = {
    ("POST", "/api/chat"),
    ("GET", "/api/sessions/{session_id}/messages"),
    ("POST", "/api/voices"),
    ("DELETE", "/api/keys/{key_id}"),
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/audio/transcriptions"),
    ("POST", "/api/voice/turn"),
}
PLACEHOLDER = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(tmp_path_factory.mktemp("routes")) as c:
        yield c


def all_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, BaseRoute]]:
    """(full path, route), descending into included routers (FastAPI keeps them lazily)."""
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            context = getattr(route, "include_context", None)
            yield from all_routes(original.routes, prefix + getattr(context, "prefix", ""))
        else:
            yield prefix + getattr(route, "path", ""), route


def http_routes(client: TestClient) -> list[tuple[str, str]]:
    found = []
    for path, route in all_routes(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(route, APIRoute | Route) and not isinstance(route, Mount):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, path))
    return found


def socket_routes(client: TestClient) -> list[str]:
    return [
        path
        for path, route in all_routes(client.app.routes)  # type: ignore[attr-defined]
        if isinstance(route, APIWebSocketRoute | WebSocketRoute)
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", PLACEHOLDER, path)


def test_every_http_route_needs_a_credential_unless_public(client: TestClient) -> None:
    routes = http_routes(client)
    missing = MUST_EXIST - set(routes)
    assert not missing, f"routes not found on the app: {missing}"
    open_routes = []
    for method, path in routes:
        r = client.request(
            method, concrete(path), content=b"{}", headers={"content-type": "application/json"}
        )
        if (method, path) in PUBLIC:
            assert r.status_code != 401, (method, path)
            continue
        if r.status_code != 401:
            open_routes.append(f"{method} {path} -> {r.status_code}")
            continue
        error = r.json()["error"]
        assert error["code"] and error["message"], (method, path, r.text)
        assert r.headers.get("www-authenticate") == "Bearer", (method, path)
    assert not open_routes, "routes answer without a credential:\n" + "\n".join(open_routes)


def test_bad_credentials_are_refused_everywhere(client: TestClient) -> None:
    for method, path in http_routes(client):
        if (method, path) in PUBLIC:
            continue
        for credential in ("hv-" + "x" * 43, "a.b.c", PLACEHOLDER):
            r = client.request(method, concrete(path), headers=bearer(credential), content=b"{}")
            assert r.status_code == 401, (method, path, credential, r.status_code)


def test_every_websocket_refuses_without_a_credential(client: TestClient) -> None:
    sockets = socket_routes(client)
    assert "/api/voice/ws" in sockets
    assert "/v1/realtime" in sockets
    for path in sockets:
        for query in ("", "?token=forged." + PLACEHOLDER, "?token=hv-" + "y" * 43):
            if path.startswith("/v1/"):  # OpenAI's protocol: refused in the handshake, its error body
                with pytest.raises(WebSocketDenialResponse) as denied:
                    client.websocket_connect(concrete(path) + query).__enter__()
                assert denied.value.status_code == 401, path
                assert denied.value.json()["error"]["code"] == "invalid_api_key", path
                continue
            with client.websocket_connect(concrete(path) + query) as ws:
                event = json.loads(ws.receive_text())
                assert event["type"] == "error" and event["code"] == "unauthorized", (path, event)
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
                assert closed.value.code == 4401


def test_a_signed_in_socket_is_accepted(client: TestClient) -> None:
    token = account(client, "wsuser")
    with client.websocket_connect(f"/api/voice/ws?token={token}") as ws:
        ws.send_text(json.dumps({"type": "cancel"}))
        event = json.loads(ws.receive_text())
        assert not (event["type"] == "error" and event["code"] == "unauthorized"), event


def test_static_ui_files_are_public_and_nothing_else_is_served_from_disk(client: TestClient) -> None:
    mounts = [r for r in client.app.routes if isinstance(r, Mount)]  # type: ignore[attr-defined]
    # The web UI, and Swagger UI's own files for /docs (a package's assets, no user data).
    assert [m.path for m in mounts] == ["/docs/assets", ""], "only the web UI and the docs assets are mounted"
    web = Path(mounts[-1].app.directory)  # type: ignore[attr-defined]
    files = [p for p in web.rglob("*") if p.is_file()]
    assert files
    for path in files:
        r = client.get("/" + str(path.relative_to(web)))
        assert r.status_code == 200, path
    for probe in (
        "/../config.py",
        "/%2e%2e/config.py",
        "/..%2fconfig.py",
        "/js/../../api/app.py",
        "/%2e%2e/%2e%2e/pyproject.toml",
    ):
        r = client.get(probe)
        assert r.status_code in (400, 404), (probe, r.status_code)
        assert b"import " not in r.content and b"[project]" not in r.content, probe


def test_the_backend_sends_security_headers_without_nginx(client: TestClient) -> None:
    """On a laptop there is no nginx in front: the backend adds the basic headers itself."""
    for path in ("/", "/js/app.js", "/api/auth/config", "/api/sessions", "/no-such-page"):
        r = client.get(path)
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("x-frame-options") == "DENY", path
