"""The `harvis` command. Each subcommand lives in its own module, imported only when used.

A subcommand module exposes ``add_arguments(parser)`` and ``run(args, settings) -> int``
(the exit status); its one-line help lives here, so `harvis --help` imports none of them.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

from pydantic import ValidationError

from harvis.config import Settings

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": (
        "harvis.api.serve",
        "run the Harvis backend and web UI (starts the embedded LLM node when OLLAMA_URL is unset)",
    ),
    "llm-node": (
        "harvis.llm.node.cli",
        "run the embedded LLM node: Ollama's HTTP API over local GGUF models (llama.cpp)",
    ),
    "wyoming": (
        "harvis.api.wyoming_cli",
        "serve Home Assistant's Wyoming protocol: speech to text, text to speech, conversation",
    ),
    "models": ("harvis.models.cli", "list, fetch and verify the ML model cache (HARVIS_MODELS_DIR)"),
    "users": (
        "harvis.store.users_cli",
        "manage accounts: create, list, set-password, sign-out, tools (MCP servers)",
    ),
    "doctor": (
        "harvis.doctor.cli",
        "check Ollama, models, router, database, speech, model cache, DNS, GPUs and the cluster",
    ),
}


def build_parser(command: str | None) -> tuple[argparse.ArgumentParser, ModuleType | None]:
    """The parser, with the arguments of `command` only (its module is imported for them)."""
    parser = argparse.ArgumentParser(prog="harvis", description="Harvis, a self-hosted voice AI assistant")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module = None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
    return parser, module


def settings_or_exit() -> Settings:
    """Settings from the environment; a bad value is one line per problem, then exit 2."""
    try:
        return Settings()
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()))
            print(f"harvis: bad setting {where}: {err.get('msg', 'invalid')}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    parser, module = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    settings = settings_or_exit()
    assert module is not None  # parse_args exits when no known command was given
    return int(module.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
