"""A model hub on 127.0.0.1 that answers like the Hugging Face one, for `harvis models fetch`.

Files under ROOT/REPO/FILE are served at /REPO/resolve/REVISION/FILE, for the branch `main` and
for the commit it names. HEAD and GET carry the hub's metadata: X-Repo-Commit, and for files
listed as LFS, X-Linked-Etag (sha256) and X-Linked-Size; small files get ETag = their git blob id.
GET honours `Range: bytes=N-` (206). Faults to inject: `cut_after[FILE] = N` drops the connection
after N bytes of the next GET of FILE; `corrupt` serves other bytes than the metadata describes.
Every request is logged as (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

COMMIT = "4a1b2c3d4e5f60718293a4b5c6d7e8f901234567"


@dataclass
class Hub:
    root: Path
    url: str = ""
    lfs: set[str] = field(default_factory=set)  # file names the hub stores in LFS
    cut_after: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    def put(self, repo: str, name: str, data: bytes, *, lfs: bool = True) -> None:
        path = self.root / repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if lfs:
            self.lfs.add(name)

    def gets(self, name: str) -> list[str]:
        """The Range header of every GET of one file ('' = the whole file)."""
        return [rng for method, path, rng in self.requests if method == "GET" and path.endswith("/" + name)]


def _split(path: str) -> tuple[str, str, str] | None:
    head, sep, tail = path.partition("/resolve/")
    if not sep or "/" not in tail:
        return None
    revision, _, name = tail.partition("/")
    return head.strip("/"), revision, name


@contextmanager
def serve(root: Path) -> Iterator[Hub]:
    hub = Hub(root)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:
            self._answer(body=False)

        def do_GET(self) -> None:
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range", "")))
            parts = _split(self.path)
            file = hub.root / parts[0] / parts[2] if parts else None
            if parts is None or parts[1] not in ("main", COMMIT) or file is None or not file.is_file():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            name = parts[2]
            data = file.read_bytes()
            sent = bytes(b ^ 0xFF for b in data[:64]) + data[64:] if name in hub.corrupt else data
            start = 0
            rng = self.headers.get("Range", "")
            if body and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[6:-1])
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", COMMIT)
            if name in hub.lfs:
                self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Linked-Size", str(len(data)))
            else:
                blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
                self.send_header("ETag", f'"{blob}"')
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            if not body:
                return
            cut = hub.cut_after.pop(name, None) if body else None
            payload = sent[start:] if cut is None else sent[start : start + cut]
            self.wfile.write(payload)
            self.wfile.flush()
            if cut is not None:
                self.close_connection = True  # fewer bytes than promised: the client sees a drop

    with _running(Handler) as url:
        hub.url = url
        yield hub


@contextmanager
def static_files(root: Path) -> Iterator[str]:
    """A plain static HTTP server of `root` on 127.0.0.1 (no hub metadata): a mirror of a model
    cache, or a hub laid out as /REPO/resolve/REVISION/FILE. Yields its URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    with _running(Handler) as url:
        yield url


@contextmanager
def _running(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
