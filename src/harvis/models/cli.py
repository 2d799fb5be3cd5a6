"""`harvis models list | fetch [NAME…] | verify [--speed]`: the model cache from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harvis.config import Settings
from harvis.models import catalog
from harvis.models.cache import (
    FetchError,
    cached_names,
    copy_from,
    fetch,
    fetch_url,
    is_present,
    model_dir,
    read_manifest,
)
from harvis.models.remote import REMOTE
from harvis.models.verify import read_speed, speed_advice, verify


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="known models, where each comes from, and what the cache holds")
    fetch = sub.add_parser("fetch", help="copy, assemble or download models into the cache (idempotent)")
    fetch.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="models to fetch (default: every catalogue model whose packages are installed)",
    )
    fetch.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="copy from a directory instead: another model cache (e.g. the NFS volume) or one "
        "model's directory made by `harvis models fetch` (air-gapped clusters)",
    )
    fetch.add_argument(
        "--url",
        help="with NAMEs: a mirror URL that serves the model's directory (its files and manifest); "
        "without: one file from an http(s):// or file:// URL (needs --name and, for http, --sha256)",
    )
    fetch.add_argument("--name", help="cache name for a single-file --url")
    fetch.add_argument("--sha256", default="", help="expected sha256 of a single-file --url")
    fetch.add_argument(
        "--revision", default="", help="hub revision (a commit id pins it) instead of the catalogue's"
    )
    fetch.add_argument(
        "--force",
        action="store_true",
        help="fetch again even if the cache looks complete (after `verify` found damage)",
    )
    verify = sub.add_parser("verify", help="check every cached file's sha256; --speed measures read speed")
    verify.add_argument("names", nargs="*", metavar="NAME")
    verify.add_argument("--speed", action="store_true", help="measure how fast the cache reads (MB/s)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    models_dir = settings.resolved_models_dir
    if args.models_command == "list":
        return _list(models_dir)
    if args.models_command == "fetch":
        return _fetch(args, settings, models_dir)
    return _verify(args, settings, models_dir)


def _list(models_dir: Path) -> int:

    print(f"model cache: {models_dir}")
    print(f"{'NAME':<24}{'KIND':<9}{'SOURCE':<12}{'CACHED':<10}{'SIZE':>10}  DESCRIPTION")
    rows: list[tuple[str, str, str, str, int]] = []
    for entry in catalog.CATALOG.values():
        located = [p.locate() for p in entry.parts]
        installed = all(path is not None for path in located)
        source = ("parts" if entry.assembled else "package") + ("" if installed else "?")
        # What the model weighs where it lies now (the package), so the column means something
        # before anything is fetched into the cache.
        in_place = sum(_size(path) for path in located if path is not None) if installed else entry.size
        rows.append((entry.name, entry.kind, source, entry.description, in_place))
    rows += [(m.name, m.kind, "hub", m.description, m.approx_bytes) for m in REMOTE.values()]
    for name, kind, source, description, in_place in rows:
        directory = model_dir(name, models_dir)
        files = read_manifest(directory) or {}
        cached = "yes" if is_present(directory) else ("broken" if files else "no")
        size = sum(int(i["size"]) for i in files.values()) or in_place
        shown = f"{size / 1e6:>8.1f}MB" if size else f"{'-':>10}"
        print(f"{name:<24}{kind:<9}{source:<12}{cached:<10}{shown}  {description}")
    print(
        "SOURCE: package = used in place from an installed package (fetch copies it into the cache); "
        "parts = assembled from packages; hub = downloaded; '?' = its package is not installed"
    )
    return 0


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def _fetch(args: argparse.Namespace, settings: Settings, models_dir: Path) -> int:

    try:
        if args.url and not args.names:
            if not args.name:
                print(
                    "error: a single-file --url needs --name (or name the catalogue models to fetch)",
                    file=sys.stderr,
                )
                return 2
            results = [fetch_url(args.url, args.name, models_dir, sha256=args.sha256, force=args.force)]
        elif args.source:
            names = args.names or cached_names(args.source)
            results = [copy_from(args.source, n, models_dir) for n in names]
        else:
            names = args.names or [
                e.name for e in catalog.CATALOG.values() if all(p.locate() is not None for p in e.parts)
            ]
            unknown = [n for n in names if n not in catalog.names()]
            if unknown:
                print(
                    f"error: unknown model {unknown[0]!r}; known: {', '.join(catalog.names())}",
                    file=sys.stderr,
                )
                return 1
            results = [
                fetch(
                    n,
                    models_dir,
                    hub_endpoint=settings.speech.hub_endpoint,
                    base_url=args.url or "",
                    revision=args.revision,
                    force=args.force,
                )
                for n in names
            ]
    except (FetchError, catalog.ModelMissing, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for r in results:
        print(f"{r.name}: {r.action} ({r.bytes / 1e6:.1f} MB) -> {r.path}")
    return 0


def _verify(args: argparse.Namespace, settings: Settings, models_dir: Path) -> int:

    checks = verify(models_dir, args.names or None)
    for c in checks:
        print(f"{'ok ' if c.ok else 'BAD'} {c.name}: {c.detail}")
    if not checks:
        print(f"nothing to verify in {models_dir}")
    status = 0 if all(c.ok for c in checks) else 1
    if args.speed:
        speed = read_speed(models_dir)
        print(f"read speed: {speed.mb_s:.0f} MB/s ({speed.bytes / 1e6:.0f} MB in {speed.seconds:.2f} s)")
        advice = speed_advice(speed, settings.speech.min_read_mb_s)
        if advice:
            print(f"advice: {advice}")
    return status
