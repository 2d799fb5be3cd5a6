"""Hostile uploads against a real `harvis serve`: anonymous 25 MB chunked bodies are refused
before they are read (the backend's memory barely moves), and a signed-in client's oversized
body is stopped at the limit with a 413, never buffered."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.backend import login, signup, start_backend, token_of
from tests.support.processes import Proc, free_port, wait_until
from tests.support.raw_http import BOUNDARY, MB, multipart_chunks, peak_rss, post_raw

pytestmark = pytest.mark.slow
UPLOADS = (("/v1/audio/transcriptions", "file"), ("/api/voice/turn", "audio"), ("/api/voices", "audio"))
FLOOD = 9  # three per upload route, all at once
RSS_BOUND = 48 * MB  # one buffered 25 MB body (the old middleware held every one) breaks it


@dataclass
class Backend:
    proc: Proc
    token: str


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    data_dir = tmp_path_factory.mktemp("uploads") / "data"
    # No LLM is needed to refuse a body: a dead node URL keeps the embedded one from starting.
    proc = start_backend(data_dir, env={"OLLAMA_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        signup(proc.url, "uploader")
        client = login(proc.url, "uploader")
        token = token_of(client)
        client.close()
        yield Backend(proc, token)
    finally:
        proc.stop()


def flood(backend: Backend, jobs: list[tuple[str, str, dict[str, str], int]]) -> tuple[list[int], int]:
    """Send every (path, field, headers, size) chunked at once; their statuses and the RSS growth."""

    def one(job: tuple[str, str, dict[str, str], int]) -> int:
        path, field, headers, size = job
        return post_raw(backend.proc.url, path, multipart_chunks(field, size), headers=headers)

    with peak_rss(backend.proc.pid) as rss, ThreadPoolExecutor(len(jobs)) as pool:
        statuses = list(pool.map(one, jobs))
    return statuses, rss[1] - rss[0]


def test_anonymous_chunked_uploads_are_refused_before_the_body_is_read(backend: Backend) -> None:
    jobs = [(*UPLOADS[i % len(UPLOADS)], {}, 25 * MB) for i in range(FLOOD)]
    statuses, grown = flood(backend, jobs)
    assert statuses == [401] * FLOOD
    assert grown < RSS_BOUND, f"the backend grew by {grown / MB:.0f} MB reading bodies it refused"
    # A forged credential is no better than none.
    jobs = [(*UPLOADS[0], {"Authorization": "Bearer not-a-token"}, 25 * MB)]
    assert flood(backend, jobs)[0] == [401]


def test_oversized_signed_in_uploads_stop_at_the_limit(backend: Backend) -> None:
    auth = {"Authorization": f"Bearer {backend.token}"}
    # 40 MB against the 25 MB limit (10 MB for a voice), chunked: counted while streaming.
    jobs = [(path, field, auth, 40 * MB) for path, field in UPLOADS]
    statuses, grown = flood(backend, jobs)
    assert statuses == [413] * len(UPLOADS)
    assert grown < RSS_BOUND, f"the backend grew by {grown / MB:.0f} MB on bodies over the limit"
    # A declared Content-Length over the limit is refused from the header alone.
    status = post_raw(
        backend.proc.url,
        "/api/voices",
        multipart_chunks("audio", 11 * MB),
        headers=auth,
        content_length=11 * MB + 300,
    )
    assert status == 413


def test_a_signed_in_upload_within_the_limit_still_reaches_its_handler(backend: Backend) -> None:
    auth = {"Authorization": f"Bearer {backend.token}"}
    # 3 MB of noise, chunked: through the guard, spooled, and refused by the decoder (not the guard).
    status = post_raw(
        backend.proc.url, "/v1/audio/transcriptions", multipart_chunks("file", 3 * MB), headers=auth
    )
    assert status == 400
    r = httpx.post(
        backend.proc.url + "/v1/audio/transcriptions",
        headers=auth,
        files={"file": ("a.webm", b"not audio at all")},
        timeout=60,
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_audio", r.text
    assert backend.proc.popen.poll() is None


def open_files(pid: int) -> list[str]:
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.append(os.readlink(fd))
        except OSError:
            pass  # closed meanwhile
    return found


def test_an_upload_in_progress_is_spooled_to_the_data_directory(backend: Backend) -> None:
    spool = backend.proc.log_path.parent / "tmp"  # the data dir holds backend.log
    url = urlsplit(backend.proc.url)
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=60) as sock:
        head = (
            f"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {backend.token}\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunks = list(multipart_chunks("file", 3 * MB))
        for chunk in chunks[:-1]:  # all but the closing boundary: the upload is still arriving
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        wait_until(
            lambda: any(f.startswith(str(spool)) for f in open_files(backend.proc.pid)),
            timeout=60,
            what=f"the upload's bytes to be spooled to a file under {spool}",
        )
        assert spool.stat().st_mode & 0o777 == 0o700
        sock.sendall(f"{len(chunks[-1]):x}\r\n".encode() + chunks[-1] + b"\r\n0\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]  # noise, refused by the decoder
