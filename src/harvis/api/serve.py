"""`harvis serve`: the backend and the web UI (and, without OLLAMA_URL, the embedded LLM node)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import socket
import sys
import tempfile
from pathlib import Path

from harvis.api.app import begin_shutdown, create_app
from harvis.api.logredact import RedactFilter, uvicorn_log_config
from harvis.api.wyoming_front import with_wyoming
from harvis.config import Settings
from harvis.llm.router import DEFAULT_OLLAMA_URL
from harvis.llm.router_config import RouterConfigError, load_config
from harvis.models.firstrun import FirstRunError, prepare_default_llm
from harvis.store.private import PRIVATE_UMASK
from harvis.tools.mcp_config import McpConfigError, load_mcp_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument(
        "--wyoming",
        nargs="?",
        const="",
        metavar="URI",
        help="also serve Wyoming (Home Assistant) at URI (default tcp://127.0.0.1:10300)",
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def spool_in(data_dir: Path) -> Path:
    """Uploads spooled by the form parser go to the data directory's disk (private to the
    server), not to a /tmp that may be memory (tmpfs)."""
    spool = data_dir / "tmp"
    spool.mkdir(parents=True, exist_ok=True, mode=0o700)
    spool.chmod(0o700)  # mkdir's mode does not change a directory that was already there
    tempfile.tempdir = str(spool)
    return spool


def run(args: argparse.Namespace, settings: Settings) -> int:
    has_secret = settings.secret_key is not None and bool(settings.secret_key.get_secret_value())
    if not is_loopback(args.host) and not has_secret:
        print(
            f"harvis serve: refusing to listen on {args.host} without HARVIS_SECRET_KEY "
            "(set it to a long random string, or listen on 127.0.0.1)",
            file=sys.stderr,
        )
        return 2
    try:  # a bad MCP config: one line naming the entry, before anything starts
        load_mcp_config(settings.tools.mcp_config)
    except McpConfigError as exc:
        print(f"harvis serve: bad MCP config: {exc}", file=sys.stderr)
        return 2
    if args.wyoming is not None:
        settings = with_wyoming(settings, uri=args.wyoming or None)
    import uvicorn

    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactFilter())
    # Per-request client logs and migration chatter drown what a user needs to read.
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    if settings.ollama_url is None and settings.llm_config is None:  # the embedded node serves
        try:
            prepare_default_llm(settings)
        except FirstRunError as exc:
            print(f"harvis serve: {exc}", file=sys.stderr)
            return 2
    if settings.llm_config is not None:  # a bad router file: one line naming the entry, not a traceback
        try:
            load_config(settings.llm_config, default_api_base=settings.ollama_url or DEFAULT_OLLAMA_URL)
        except RouterConfigError as exc:
            print(f"harvis serve: bad router config: {exc}", file=sys.stderr)
            return 2
    os.umask(PRIVATE_UMASK)  # whatever it writes later (WAL, logs, voices) is owner-only
    spool_in(settings.data_dir)
    app = create_app(settings)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    logging.getLogger("harvis").info("Harvis will serve at http://%s:%d/", shown, args.port)
    # Trusts X-Forwarded-For only from the configured proxies (loopback by default), so the login
    # limiter sees real client addresses without letting clients pick their own.
    config = uvicorn.Config(
        app,
        log_config=uvicorn_log_config(),
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        proxy_headers=bool(settings.forwarded_allow_ips),
        forwarded_allow_ips=settings.forwarded_allow_ips or None,
        timeout_graceful_shutdown=10,
    )

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            begin_shutdown(app)  # open event streams end now, not at the graceful timeout
            await super().shutdown(sockets)

    server = Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0 if server.started else 3  # uvicorn's own code for a failed start
