"""The `harvis` command. Each subcommand lives in its own module, imported only when used.

A subcommand module exposes ``HELP: str``, ``add_arguments(parser)`` and
``run(args, settings) -> int`` (the exit status).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harvis.config import Settings

SUBCOMMANDS: dict[str, str] = {
    "serve": "harvis.api.serve",
    "llm-node": "harvis.llm.node.cli",
    "models": "harvis.models.cli",
    "users": "harvis.store.users_cli",
    "doctor": "harvis.doctor.cli",
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(prog="harvis", description="Harvis, a self-hosted voice AI assistant")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, object] = {}
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name):
                raise
            continue  # that part of Harvis is not built yet
        modules[name] = module
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    settings = Settings()
    module = modules[args.command]
    return int(module.run(args, settings) or 0)  # type: ignore[attr-defined]


if __name__ == "__main__":
    sys.exit(main())
