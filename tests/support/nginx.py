"""Run the real deploy/nginx config in a private nginx (Debian's package) for tests.

The template is the same file the container image uses; here it is filled in with
loopback addresses and wrapped in a main config whose pid, logs and temp paths all live
in a private directory, so the test needs no system nginx setup.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import REPO, Proc, free_port, spawn

TEMPLATE = REPO / "deploy" / "nginx" / "harvis.conf.template"
WEB_ROOT = REPO / "src" / "harvis" / "web"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
MIME_TYPES = Path("/etc/nginx/mime.types")

_PLACEHOLDER = re.compile(r"\$\{(HARVIS_[A-Z0-9_]+)\}")


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Fill ${NAME} placeholders like envsubst; a missing value is an error, not a blank."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text)} - set(values))
    if missing:
        raise KeyError(f"no value for template placeholders: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


TLS_INCLUDE = "/etc/nginx/harvis-tls/*.conf"


def write_config(
    directory: Path,
    *,
    backend: str,
    listen: str,
    max_body: str = "26m",
    web_root: Path = WEB_ROOT,
    tls: str | None = None,
) -> Path:
    """`tls`: what the image's harvis-tls.sh would write (listen … ssl; certificate lines)."""
    """Write conf/nginx.conf (+ conf/harvis.conf) under `directory`; return the main config."""
    if not MIME_TYPES.exists():
        raise FileNotFoundError(f"{MIME_TYPES} is missing: install Debian's nginx (scripts/system-deps.sh)")
    conf = directory / "conf"
    for sub in ("conf", "logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    server = render_template(
        TEMPLATE.read_text(),
        {
            "HARVIS_LISTEN": listen,
            "HARVIS_BACKEND": backend,
            "HARVIS_WEB_ROOT": str(web_root),
            "HARVIS_MAX_BODY": max_body,
        },
    )
    tls_dir = conf / "tls"
    tls_dir.mkdir(exist_ok=True)
    if tls is not None:
        (tls_dir / "tls.conf").write_text(tls)
    assert TLS_INCLUDE in server, "the template no longer includes the TLS snippet"
    (conf / "harvis.conf").write_text(server.replace(TLS_INCLUDE, str(tls_dir / "*.conf")))
    # As root the worker would run as "nobody" and may not read the checkout.
    user = "user root;\n" if os.geteuid() == 0 else ""
    tmp = directory / "tmp"
    main = f"""{user}worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "logs" / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    include {MIME_TYPES};
    default_type application/octet-stream;
    access_log {directory / "logs" / "access.log"};
    client_body_temp_path {tmp / "body"};
    proxy_temp_path {tmp / "proxy"};
    fastcgi_temp_path {tmp / "fastcgi"};
    uwsgi_temp_path {tmp / "uwsgi"};
    scgi_temp_path {tmp / "scgi"};
    sendfile on;
    include {conf / "harvis.conf"};
}}
"""
    path = conf / "nginx.conf"
    path.write_text(main)
    return path


def nginx_command(directory: Path, *extra: str) -> list[str]:
    return [NGINX, "-p", str(directory), "-c", str(directory / "conf" / "nginx.conf"), *extra]


@contextmanager
def running_nginx(
    directory: Path, *, backend_url: str, max_body: str = "26m", tls: str | None = None
) -> Iterator[Proc]:
    """A private nginx in front of `backend_url` (http://127.0.0.1:PORT), stopped by PID."""
    if not Path(NGINX).exists():
        raise FileNotFoundError("nginx is not installed (Debian package nginx; scripts/system-deps.sh)")
    port = free_port()
    backend = backend_url.removeprefix("http://").rstrip("/")
    write_config(directory, backend=backend, listen=f"127.0.0.1:{port}", max_body=max_body, tls=tls)
    proc = spawn(
        nginx_command(directory, "-g", "daemon off;"),
        base_url=f"http://127.0.0.1:{port}",
        log_path=directory / "logs" / "stdout.log",
        ready_path="/index.html",
        timeout=30,
    )
    try:
        yield proc
    finally:
        proc.stop()
