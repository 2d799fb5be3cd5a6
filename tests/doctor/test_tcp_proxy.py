"""The tests' fault-injecting TCP proxy, against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support.tcp_proxy import TcpProxy, tcp_proxy

BODY = b"x" * 300_000  # several proxy chunks


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, int]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def proxy(server: tuple[str, int]) -> Iterator[TcpProxy]:
    with tcp_proxy("127.0.0.12", server) as p:
        yield p


def test_forwards_both_ways(proxy: TcpProxy) -> None:
    r = httpx.get(proxy.url + "/", timeout=10)
    assert r.content == BODY
    assert proxy.stats.accepted == 1 and proxy.stats.bytes_down >= len(BODY) and proxy.stats.bytes_up > 0


def test_cut_refuses_and_restore_recovers(proxy: TcpProxy) -> None:
    proxy.cut()
    with pytest.raises(httpx.ConnectError):
        httpx.get(proxy.url + "/", timeout=5)
    proxy.restore()
    assert httpx.get(proxy.url + "/", timeout=10).content == BODY


def test_blackhole_times_out(proxy: TcpProxy) -> None:
    proxy.blackhole()
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(proxy.url + "/", timeout=httpx.Timeout(5, read=0.5))
    proxy.restore()
    assert httpx.get(proxy.url + "/", timeout=10).content == BODY


def test_reset_breaks_a_live_stream(proxy: TcpProxy) -> None:
    proxy.delay(0.05)  # keep the response in flight long enough to reset it
    received = 0
    with httpx.stream("GET", proxy.url + "/", timeout=10) as r:
        chunks = r.iter_raw(1024)
        received += len(next(chunks))
        proxy.reset()
        with pytest.raises(httpx.HTTPError):
            for chunk in chunks:
                received += len(chunk)
    assert 0 < received < len(BODY)
    proxy.restore()
    assert httpx.get(proxy.url + "/", timeout=10).content == BODY
