"""`harvis wyoming`: the backend's services without HTTP, serving Wyoming only (Home Assistant's
STT, TTS and conversation protocol). Same lifespan as `harvis serve`, so the same engines,
voices, router (and embedded LLM node when OLLAMA_URL is unset) and store."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from harvis.api.app import create_app
from harvis.api.wyoming_front import with_wyoming
from harvis.config import Settings
from harvis.errors import HarvisError
from harvis.wyoming.server import check_announcement, parse_uri

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--uri", help="where to listen (default tcp://127.0.0.1:10300; Wyoming has no authentication)"
    )
    parser.add_argument(
        "--zeroconf",
        nargs="?",
        const="harvis",
        help="announce the server over mDNS for Home Assistant, under this name (default harvis)",
    )
    parser.add_argument(
        "--user", help="the account whose chats conversations are kept in (default: first admin)"
    )
    parser.add_argument("--model", help="the model conversations are answered with (default: the router's)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    settings = with_wyoming(settings, uri=args.uri, zeroconf=args.zeroconf, user=args.user, model=args.model)
    try:
        host, _ = parse_uri(settings.wyoming.uri)
        check_announcement(host, settings.wyoming.zeroconf)
    except HarvisError as exc:
        print(f"harvis wyoming: {exc.message}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        asyncio.run(_serve(settings))
    except HarvisError as exc:
        print(f"harvis wyoming: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"harvis wyoming: cannot listen on {settings.wyoming.uri}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    return 0


async def _serve(settings: Settings) -> None:
    app = create_app(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with app.router.lifespan_context(app):
        await stop.wait()
    log.info("Wyoming server stopped")
