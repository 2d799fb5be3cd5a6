"""The real deploy/nginx config in front of the real backend: security headers on every kind
of answer (page, asset, API JSON, API error, nginx's own 413 and 404), no version banner,
and only GET/HEAD for the static UI."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.security.conftest import Hardened
from tests.support.nginx import running_nginx
from tests.support.processes import Proc

pytestmark = pytest.mark.slow
HEADERS = {"x-content-type-options": "nosniff", "x-frame-options": "DENY"}


@pytest.fixture(scope="module")
def nginx(hardened: Hardened, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_nginx(tmp_path_factory.mktemp("nginx-sec"), backend_url=hardened.proc.url, max_body="1m") as proc:
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
        ("413 from nginx", httpx.post(nginx.url + "/api/sessions", content=b"x" * (2 * 1024 * 1024),
                                      headers={**auth, "content-type": "application/json"}, timeout=30)),
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
