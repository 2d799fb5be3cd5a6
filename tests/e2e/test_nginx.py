"""The deploy/nginx config in a real private nginx in front of the real backend."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.e2e.ui import WATCH_STREAMING_JS, answer_text, answers, ask, log_in, wait_final
from tests.support.backend import DEFAULT_PASSWORD, login, token_of
from tests.support.browser import PageProblems
from tests.support.nginx import TEMPLATE, nginx_command, running_nginx, write_config
from tests.support.processes import Proc

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


@pytest.fixture(scope="module")
def nginx(backend: Proc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proc]:
    with running_nginx(tmp_path_factory.mktemp("nginx"), backend_url=backend.url) as proc:
        yield proc


def test_security_headers_on_pages_assets_and_api(nginx: Proc) -> None:
    for path, kind in [
        ("/", "text/html"),
        ("/js/app.js", "javascript"),
        ("/style.css", "text/css"),
        ("/api/auth/config", "application/json"),
        ("/api/auth/me", "application/json"),
    ]:
        r = httpx.get(nginx.url + path, timeout=10)
        assert r.status_code in (200, 401), (path, r.status_code)
        assert kind in r.headers["content-type"], (path, r.headers["content-type"])
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (path, name, r.headers.get(name))
        csp = r.headers["content-security-policy"]
        for directive in (
            "default-src 'self'",
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "connect-src 'self'",
        ):
            assert directive in csp, (path, directive)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "nginx/" not in r.headers.get("server", ""), "nginx must not announce its version"


def test_an_over_size_upload_gets_413_in_the_api_error_shape(
    nginx: Proc, backend: Proc, account: tuple[str, str]
) -> None:
    client = login(nginx.url, account[0], DEFAULT_PASSWORD)
    body = b"\0" * (27 * 1024 * 1024)  # the template's limit is 26m
    r = client.post("/api/voices", content=body, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    assert r.headers["x-content-type-options"] == "nosniff"
    # nginx stopped it: the backend never saw the upload.
    assert '"POST /api/voices' not in backend.log()
    assert client.get("/api/auth/me").status_code == 200, "nginx keeps serving"


def test_backend_down_is_a_json_502(tmp_path: Path) -> None:
    with running_nginx(tmp_path, backend_url="http://127.0.0.1:9") as proxy:  # nothing listens on 9
        r = httpx.get(proxy.url + "/api/sessions", timeout=30)
        assert r.status_code == 502
        assert r.json()["error"]["code"] == "backend_unavailable"


def test_chat_events_pass_through_as_they_are_made(nginx: Proc, account: tuple[str, str]) -> None:
    """Unbuffered SSE: many token events reach the client in earlier reads than `done`."""
    client = login(nginx.url, account[0], DEFAULT_PASSWORD)
    events: list[tuple[int, str]] = []  # (index of the network read it arrived in, event name)
    buffer = b""
    with client.stream("POST", "/api/chat", json={"message": "Count from one to twenty in words."}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        for read_index, chunk in enumerate(r.iter_raw()):
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                name = re.search(rb"^event: (\w+)", block, re.M)
                events.append((read_index, name.group(1).decode() if name else "?"))
    names = [name for _, name in events]
    assert names[0] == "session" and names[-1] == "done", names[-3:]
    done_read = events[-1][0]
    early_tokens = [i for i, name in events if name == "token" and i < done_read]
    assert len(early_tokens) >= 5, f"only {len(early_tokens)} token events arrived before the end: buffered?"
    assert len({i for i in early_tokens}) >= 5, "tokens arrived in a few big lumps: buffered?"


def test_the_page_works_through_nginx(
    page: Page, nginx: Proc, account: tuple[str, str], problems: PageProblems
) -> None:
    log_in(page, nginx.url, *account)
    page.evaluate(WATCH_STREAMING_JS)
    answer = ask(page, "Name three colours and say one thing about each.")
    assert wait_final(answer) == "complete"
    assert len(page.evaluate("window.__answerLengths")) >= 3, "the answer did not stream in through nginx"
    text = answer_text(answer)
    page.reload()
    expect(answers(page)).to_have_count(1)
    assert answer_text(answers(page).first) == text
    # The UI lives entirely within the strict CSP: nothing it does was blocked.
    assert problems.csp_violations() == []
    # The session cookie stays httpOnly behind the proxy: page scripts cannot read it.
    assert "harvis_session" not in page.evaluate("document.cookie")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["harvis_session"]["httpOnly"] is True
    assert cookies["harvis_session"]["sameSite"] == "Lax"


def test_the_voice_websocket_upgrades_through_nginx(nginx: Proc) -> None:
    """The realtime voice socket is a WebSocket: nginx must pass the Upgrade handshake on.

    Without credentials the backend accepts, says why in an `error` event, and closes with
    4401: receiving exactly that proves the socket reached the backend through nginx.
    """
    ws_url = nginx.url.replace("http://", "ws://") + "/api/voice/ws"
    with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        event = json.loads(ws.recv(timeout=10))
        assert event["type"] == "error" and event["code"] == "unauthorized", event
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_signed_in_browser_socket_is_accepted_through_nginx(nginx: Proc, account: tuple[str, str]) -> None:
    """As a browser connects: Origin of the page, session cookie. The backend checks Origin
    against Host, so nginx must pass Host on with its port."""
    client = login(nginx.url, account[0], DEFAULT_PASSWORD)
    token = token_of(client)
    ws_url = nginx.url.replace("http://", "ws://") + "/api/voice/ws"
    headers = {"Cookie": f"harvis_session={token}"}
    with connect(ws_url, origin=Origin(nginx.url), additional_headers=headers, open_timeout=10) as ws:
        event = json.loads(ws.recv(timeout=60))
    assert event["type"] != "error" or event["code"] != "unauthorized", event


def test_the_template_is_valid_nginx_and_safe_for_envsubst(tmp_path: Path) -> None:
    """The image's envsubst replaces any ${NAME} it knows: only our four may use braces."""
    text = TEMPLATE.read_text()
    assert set(re.findall(r"\$\{(\w+)\}", text)) == {
        "HARVIS_LISTEN",
        "HARVIS_BACKEND",
        "HARVIS_WEB_ROOT",
        "HARVIS_MAX_BODY",
    }
    write_config(tmp_path, backend="127.0.0.1:8000", listen="127.0.0.1:8080")
    check = subprocess.run(nginx_command(tmp_path, "-t"), capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
