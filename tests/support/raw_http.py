"""A raw HTTP/1.1 client for hostile bodies: it sends the body while it reads the answer, so a
server that answers before the body ends (and closes) is seen, and a server that buffers it is
measured; and the resident memory of a process, sampled while that happens."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

MB = 1024 * 1024
BOUNDARY = "harvis-hostile-boundary"


def multipart_chunks(field: str, total_bytes: int, chunk_bytes: int = MB) -> Iterator[bytes]:
    """One multipart file part of `total_bytes` random bytes, as chunks (one random MB reused)."""
    yield (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="a.webm"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    block = os.urandom(chunk_bytes)
    sent = 0
    while sent < total_bytes:
        piece = block[: min(chunk_bytes, total_bytes - sent)]
        sent += len(piece)
        yield piece
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def post_raw(
    url: str,
    path: str,
    chunks: Iterator[bytes],
    *,
    headers: dict[str, str] | None = None,
    content_length: int | None = None,
    timeout: float = 120.0,
) -> int:
    """POST the chunks (chunked framing unless `content_length`); the answer's status code.

    A sender thread writes the body while this thread waits for the status line; a server
    that answers early and closes stops the sender (its write fails)."""
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout)
    head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}"]
    head.append(f"Content-Type: multipart/form-data; boundary={BOUNDARY}")
    if content_length is None:
        head.append("Transfer-Encoding: chunked")
    else:
        head.append(f"Content-Length: {content_length}")
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())

    def send_body() -> None:
        try:
            for chunk in chunks:
                if content_length is None:
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                else:
                    sock.sendall(chunk)
            if content_length is None:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what a guarded server does

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    received = b""
    try:
        while b"\r\n" not in received:
            data = sock.recv(4096)
            if not data:
                break
            received += data
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        sender.join(timeout)
    status_line = received.split(b"\r\n", 1)[0].split()
    assert len(status_line) >= 2, f"no HTTP answer to POST {path}: {received[:200]!r}"
    return int(status_line[1])


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


@contextmanager
def peak_rss(pid: int, every_s: float = 0.02) -> Iterator[list[int]]:
    """Samples VmRSS until the block ends; the list holds [baseline, peak] afterwards."""
    result = [rss_bytes(pid), 0]
    stop = threading.Event()
    peak = result[0]

    def sample() -> None:
        nonlocal peak
        while not stop.wait(every_s):
            peak = max(peak, rss_bytes(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield result
    finally:
        stop.set()
        sampler.join(5)
        result[1] = max(peak, rss_bytes(pid))
