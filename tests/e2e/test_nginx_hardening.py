"""deploy/nginx in a real private nginx, in front of a real backend: no token in its error log,
sign-in rate limited, connections per client bounded, HSTS over TLS only, no gzip on API
answers (they carry tokens and keys), and long read timeouts only where answers stream."""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from tests.support.backend import DEFAULT_PASSWORD, signup, start_backend
from tests.support.nginx import TEMPLATE, running_nginx
from tests.support.processes import Proc, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    env = {"OLLAMA_URL": f"http://127.0.0.1:{free_port()}", "HARVIS_FORWARDED_ALLOW_IPS": "127.0.0.1"}
    proc = start_backend(tmp_path_factory.mktemp("backend"), env=env)
    try:
        signup(proc.url, "owner")
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def tls_conf(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(d / "tls.key"), "-out", str(d / "tls.crt")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    port = free_port()
    conf = f"listen 127.0.0.1:{port} ssl;\nssl_certificate {d / 'tls.crt'};\n"
    conf += f"ssl_certificate_key {d / 'tls.key'};\n"
    return conf, port


@pytest.fixture(scope="module")
def nginx(
    backend: Proc, tls_conf: tuple[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proc]:
    with running_nginx(tmp_path_factory.mktemp("nginx"), backend_url=backend.url, tls=tls_conf[0]) as proc:
        yield proc


def from_address(source: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=30)


def test_a_websocket_token_never_reaches_the_error_log(tmp_path: Path) -> None:
    """With the backend down nginx logs an error for the request: never its ?token=."""
    secret = "tok" + secrets.token_hex(16)
    with running_nginx(tmp_path, backend_url=f"http://127.0.0.1:{free_port()}") as proc:
        url = proc.url.replace("http://", "ws://") + f"/api/voice/ws?token={secret}"
        with pytest.raises((InvalidStatus, WebSocketException, OSError)):
            with connect(url, open_timeout=15):
                pass
        r = httpx.get(proc.url + "/api/sessions?x=1", timeout=15)
        assert r.status_code == 502  # the backend really is down: errors were logged
        logs = {p.name: p.read_text(errors="replace") for p in (tmp_path / "logs").iterdir() if p.is_file()}
        assert "connect() failed" in logs["error.log"], logs["error.log"][-2000:]
        leaked = [name for name, text in logs.items() if secret in text]
        assert not leaked, f"the token is in {leaked}"


def test_sign_in_is_rate_limited_per_client(nginx: Proc) -> None:
    with from_address("127.0.0.21") as c:
        codes = [
            c.post(
                nginx.url + "/api/auth/login", json={"username": f"nobody{n}", "password": "wrong-password"}
            )
            for n in range(10)
        ]
    statuses = [r.status_code for r in codes]
    assert statuses[0] == 401 and statuses[-1] == 429, statuses
    limited = codes[-1].json()["error"]
    assert limited["code"] == "rate_limited" and "address" in limited["message"]
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert codes[-1].headers["x-frame-options"] == "DENY"
    with from_address("127.0.0.22") as c:  # another client is not limited
        r = c.post(nginx.url + "/api/auth/login", json={"username": "owner", "password": DEFAULT_PASSWORD})
        assert r.status_code == 200, r.text


HELD_REQUEST = b"POST /api/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"  # no body comes


def test_connections_per_client_are_bounded(nginx: Proc) -> None:
    host, port = nginx.url.removeprefix("http://").split(":")
    held: list[socket.socket] = []
    try:
        for _ in range(64):  # requests whose body never comes: each holds its connection
            s = socket.create_connection((host, int(port)), timeout=10, source_address=("127.0.0.23", 0))
            s.sendall(HELD_REQUEST)
            held.append(s)
        with from_address("127.0.0.23") as c:
            for _ in range(50):  # until nginx has read every held request's headers
                r = c.get(nginx.url + "/api/auth/config")
                if r.status_code == 429:
                    break
                time.sleep(0.1)
        assert r.status_code == 429, r.text
        with from_address("127.0.0.24") as c:
            assert c.get(nginx.url + "/api/auth/config").status_code == 200
    finally:
        for s in held:
            s.close()


def test_hsts_only_over_tls(nginx: Proc, tls_conf: tuple[str, int]) -> None:
    plain = httpx.get(nginx.url + "/api/auth/config", timeout=15)
    assert "strict-transport-security" not in plain.headers
    secure = httpx.get(f"https://127.0.0.1:{tls_conf[1]}/api/auth/config", verify=False, timeout=15)
    assert secure.status_code == 200
    assert secure.headers["strict-transport-security"].startswith("max-age=31536000")
    page = httpx.get(f"https://127.0.0.1:{tls_conf[1]}/", verify=False, timeout=15)
    assert "strict-transport-security" in page.headers


def test_no_gzip_on_answers_that_carry_secrets(nginx: Proc) -> None:
    gzip = {"Accept-Encoding": "gzip"}
    with from_address("127.0.0.25") as c:
        login = c.post(
            nginx.url + "/api/auth/login",
            headers=gzip,
            json={"username": "owner", "password": DEFAULT_PASSWORD},
        )
        assert login.status_code == 200 and "content-encoding" not in login.headers
        token = login.json()["access_token"]
        key = c.post(
            nginx.url + "/api/keys",
            headers={**gzip, "Authorization": f"Bearer {token}"},
            json={"name": "k" * 90},
        )
        assert key.status_code == 201 and "content-encoding" not in key.headers
        asset = c.get(nginx.url + "/js/app.js", headers=gzip)
        assert asset.headers.get("content-encoding") == "gzip", "static files are still compressed"


def test_long_read_timeouts_only_where_answers_stream() -> None:
    text = TEMPLATE.read_text()
    server_level = re.findall(r"^    proxy_read_timeout (\S+);", text, re.MULTILINE)
    assert server_level == ["60s"], server_level
    long_locations = []
    for block in re.finditer(r"^    location ([^{]+)\{(.*?)\n    \}", text, re.DOTALL | re.MULTILINE):
        timeout = re.search(r"proxy_read_timeout (\d+)s;", block.group(2))
        if timeout and int(timeout.group(1)) > 60:
            long_locations.append(block.group(1).strip())
    assert sorted(long_locations) == sorted(
        [
            "~ ^/(api/chat|api/voice/turn|v1/chat/completions|v1/audio/speech|v1/audio/transcriptions)$",
            "= /api/voice/ws",
        ]
    ), long_locations
