"""The real deploy/nginx config in front of the real backend: security headers on every kind
of answer (page, asset, API JSON, API error, nginx's own 413 and 404), no version banner,
and only GET/HEAD for the static UI."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from websockets.sync.client import connect

from tests.security.conftest import Hardened
from tests.support.nginx import running_nginx
from tests.support.processes import Proc, wait_until

pytestmark = pytest.mark.slow
HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}


@pytest.fixture(scope="module")
def nginx(hardened: Hardened, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_nginx(
        tmp_path_factory.mktemp("nginx-sec"), backend_url=hardened.proc.url, max_body="1m"
    ) as proc:
        yield proc


def check(r: httpx.Response, what: str) -> None:
    for name, value in HEADERS.items():
        assert r.headers.get(name) == value, (what, name, r.headers.get(name))
    assert "referrer-policy" in r.headers, what
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (what, csp)
    assert "nginx/" not in r.headers.get("server", ""), (what, r.headers.get("server"))


def test_security_headers_on_every_kind_of_answer(nginx: Proc, hardened: Hardened) -> None:
    auth = {"Authorization": f"Bearer {hardened.token}"}
    cases = [
        ("page", httpx.get(nginx.url + "/", timeout=30)),
        ("asset", httpx.get(nginx.url + "/js/app.js", timeout=30)),
        ("api json", httpx.get(nginx.url + "/api/auth/me", headers=auth, timeout=30)),
        ("api 401", httpx.get(nginx.url + "/api/sessions", timeout=30)),
        ("api 404", httpx.get(nginx.url + "/api/sessions/" + "0" * 32, headers=auth, timeout=30)),
        ("missing file", httpx.get(nginx.url + "/no-such-file.js", timeout=30)),
        (
            "413 from nginx",
            httpx.post(
                nginx.url + "/api/sessions",
                content=b"x" * (2 * 1024 * 1024),
                headers={**auth, "content-type": "application/json"},
                timeout=30,
            ),
        ),
    ]
    for what, r in cases:
        check(r, what)
    statuses = {what: r.status_code for what, r in cases}
    assert statuses["api 401"] == 401 and statuses["413 from nginx"] == 413, statuses


def test_static_ui_takes_no_writes_and_hides_dotfiles(nginx: Proc) -> None:
    for method in ("POST", "PUT", "DELETE"):
        r = httpx.request(method, nginx.url + "/index.html", timeout=30)
        assert r.status_code in (403, 404, 405), (method, r.status_code)
    for path in ("/.git/config", "/.env", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"):
        r = httpx.get(nginx.url + path, timeout=30)
        assert r.status_code in (400, 403, 404), (path, r.status_code)
        assert b"root:" not in r.content, path


def test_sign_in_limit_sees_the_real_client_behind_nginx(nginx: Proc, hardened: Hardened) -> None:
    """nginx appends the address it saw to X-Forwarded-For; the backend trusts only nginx, so a
    client cannot pick its own address and escape the limit by rotating forwarding headers.
    The client connects from 127.0.0.2: an address the backend does not trust as a proxy."""
    owner = {"Authorization": f"Bearer {hardened.token}"}
    url = hardened.proc.url
    assert (
        httpx.patch(f"{url}/api/admin/settings", json={"allow_signup": True}, headers=owner).status_code
        == 200
    )
    password = "limit-test-password"
    r = httpx.post(f"{url}/api/auth/signup", json={"username": "limited", "password": password})
    assert r.status_code == 201, r.text

    def attempt(source: str, pw: str, n: int) -> httpx.Response:
        spoof = {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"203.0.113.{n}"}
        with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60) as c:
            return c.post(
                nginx.url + "/api/auth/login", headers=spoof, json={"username": "limited", "password": pw}
            )

    statuses = [attempt("127.0.0.2", "wrong-password", n).status_code for n in range(12)]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    r = attempt("127.0.0.2", password, 99)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert attempt("127.0.0.3", password, 100).status_code == 200, "another client is not blocked"


def test_a_websocket_token_stays_out_of_the_nginx_access_log(nginx: Proc, hardened: Hardened) -> None:
    """Browsers cannot set headers on a WebSocket, so clients may pass ?token=; nginx's access
    log (the container's stdout, collected by the cluster) must not keep it."""
    ws_url = nginx.url.replace("http://", "ws://") + f"/api/voice/ws?token={hardened.token}"
    with connect(ws_url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "cancel"}))
    # The template logs to stdout (the container's log), which the test's nginx writes to its log file.
    line = wait_until(
        lambda: next((ln for ln in nginx.log().splitlines() if "/api/voice/ws" in ln), None),
        timeout=30,
        what="nginx logs the WebSocket request",
    )
    assert "[redacted]" in line, f"the access log line lost its redaction marker: {line[:160]}"
    assert hardened.token not in nginx.log(), f"the token is in nginx's access log: {line[:160]}"
