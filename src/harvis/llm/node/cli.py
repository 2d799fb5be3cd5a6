"""`harvis llm-node`: serve Ollama's API over the bundled GGUF models (llama.cpp, CPU)."""

from __future__ import annotations

import argparse
import logging
import os

from harvis.config import NodeSettings, Settings
from harvis.llm.node.app import create_app

log = logging.getLogger("harvis.llm.node")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=11434, help="port (default 11434, Ollama's)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="llama.cpp threads (default: HARVIS_NODE__THREADS, 0 = half the cores)",
    )
    parser.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="requests allowed to wait for the model; more get 503 (default: HARVIS_NODE__MAX_QUEUE)",
    )
    parser.add_argument(
        "--preload",
        default=None,
        metavar="MODELS",
        help="models to load at start, comma separated (default: HARVIS_NODE__PRELOAD)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    # Before llama.cpp's OpenMP starts: idle threads sleep instead of spinning on shared cores.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    given = {"threads": args.threads, "max_queue": args.max_queue, "preload": args.preload}
    # Validated like the environment's values (a comma list becomes a list).
    node = NodeSettings.model_validate(
        {**settings.node.model_dump(), **{k: v for k, v in given.items() if v is not None}}
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = create_app(node, settings.resolved_models_dir)
    except ValueError as exc:  # a bad extra_models entry or keep_alive
        log.error("cannot start: %s", exc)
        return 2
    models = [m.name for m in app.state.node.registry.list()]
    log.info(
        "harvis llm-node serving http://%s:%d (threads=%d, max_queue=%d, models: %s)",
        args.host,
        args.port,
        app.state.threads,
        node.max_queue,
        ", ".join(models) or "none",
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0
