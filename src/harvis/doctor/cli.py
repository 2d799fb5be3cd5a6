"""`harvis doctor`: check a Harvis installation from a laptop or inside a pod."""

from __future__ import annotations

import argparse
import os

from harvis.config import Settings
from harvis.doctor.context import Context
from harvis.doctor.result import failed, to_json, to_table
from harvis.doctor.runner import run_groups

GROUPS = ("router", "ollama", "backend", "database", "speech", "cache", "dns", "gpu", "kube")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--backend-url",
        default=os.environ.get("HARVIS_BACKEND_URL"),
        help="a running backend to ask (/health/ready, speech models), e.g. http://127.0.0.1:8000",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("HARVIS_TOKEN"),
        help="API key for the backend's /api/models/speech (default $HARVIS_TOKEN)",
    )
    parser.add_argument("--namespace", default="ai-agents", help="Kubernetes namespace (default ai-agents)")
    parser.add_argument("--kube-context", default=None, help="kubectl context to use")
    parser.add_argument("--only", default="", help=f"comma-separated groups to run: {', '.join(GROUPS)}")
    parser.add_argument("--skip", default="", help="comma-separated groups to leave out")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per network check (default 5)")


def _groups(only: str, skip: str) -> list[str]:
    chosen = [g.strip() for g in only.split(",") if g.strip()] or list(GROUPS)
    unknown = [g for g in chosen + [s.strip() for s in skip.split(",") if s.strip()] if g not in GROUPS]
    if unknown:
        raise SystemExit(f"harvis doctor: unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
    skipped = {s.strip() for s in skip.split(",")}
    return [g for g in chosen if g not in skipped]


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    ctx = Context(
        settings=settings,
        backend_url=args.backend_url,
        token=args.token,
        namespace=args.namespace,
        kube_context=args.kube_context,
        timeout_s=args.timeout,
    )
    checks = asyncio.run(run_groups(ctx, _groups(args.only, args.skip)))
    print(to_json(checks) if args.json else to_table(checks))
    return 1 if failed(checks) else 0
