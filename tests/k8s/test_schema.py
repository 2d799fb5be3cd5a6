"""Every manifest validates strictly against a current Kubernetes schema and lints clean."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from yamllint import linter
from yamllint.config import YamlLintConfig

from tests.support.k8s_manifests import MANIFESTS, Doc, all_docs, manifest_files

VERSION = kubernetes_validate.latest_version()

# Duplicate keys, truthy words ("yes", "y": booleans to Kubernetes' YAML parser) and
# syntax errors are errors; layout rules are left to taste.
YAMLLINT = YamlLintConfig(
    """
extends: default
rules:
  line-length: {max: 120}
  document-start: disable
  comments: {min-spaces-from-content: 1}
  comments-indentation: disable
  indentation: {spaces: 2, indent-sequences: consistent}
  truthy: {allowed-values: ["true", "false"], check-keys: true}
  braces: {max-spaces-inside: 1}
"""
)


def _ids(docs: list[Doc]) -> list[str]:
    return [d.where for d in docs]


DOCS = all_docs()


def test_a_current_schema_version_is_used() -> None:
    major, minor = (int(x) for x in VERSION.split(".")[:2])
    assert (major, minor) >= (1, 30), f"kubernetes-validate only knows {VERSION}"


@pytest.mark.parametrize("doc", DOCS, ids=_ids(DOCS))
def test_manifest_validates_strictly(doc: Doc) -> None:
    # strict: unknown fields fail. SchemaNotFoundError (a wrong apiVersion or kind) fails too,
    # which the command-line tool would only warn about.
    try:
        kubernetes_validate.validate(doc.raw, VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{doc.where}: {exc.message} at {'/'.join(map(str, exc.path))}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(f"{doc.where}: no schema in Kubernetes {VERSION}: {exc}")


def _lint_targets() -> list[Path]:
    return [*manifest_files(), *sorted((MANIFESTS / "gpu").glob("*.yaml"))]


@pytest.mark.parametrize("path", _lint_targets(), ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_yamllint_clean(path: Path) -> None:
    problems = list(linter.run(path.read_text(), YAMLLINT, str(path)))
    assert not problems, "\n".join(f"{path.name}:{p.line}:{p.column} {p.rule}: {p.desc}" for p in problems)


def test_yamllint_config_catches_duplicates_and_truthy_words() -> None:
    # The lint config must reject these, or the check above is hollow.
    bad = "a: 1\na: 2\nlabels:\n  gpu: yes\n"
    rules = {p.rule for p in linter.run(bad, YAMLLINT)}
    assert {"key-duplicates", "truthy"} <= rules


# YAML 1.1 booleans that Kubernetes' parser (go-yaml) honours but PyYAML and yamllint let through.
YAML11_BOOL_WORDS = {"y", "n", "yes", "no", "on", "off"}


def _plain_bool_words(text: str) -> list[str]:
    found: list[str] = []
    stack: list[yaml.Node] = list(yaml.compose_all(text))
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.style is None and node.value.lower() in YAML11_BOOL_WORDS:
                found.append(f"line {node.start_mark.line + 1}: {node.value}")
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
    return found


@pytest.mark.parametrize("path", _lint_targets(), ids=lambda p: str(p.relative_to(MANIFESTS)))
def test_no_unquoted_yaml11_booleans(path: Path) -> None:
    found = _plain_bool_words(path.read_text())
    assert not found, f"quote these in {path.name}: {found}"


def test_unquoted_y_is_caught() -> None:
    assert _plain_bool_words("labels:\n  gpu: y\n  ok: 'y'\n") == ["line 2: y"]


def test_every_label_and_annotation_value_is_a_string() -> None:
    # PyYAML reads `y`/`on` as strings, Kubernetes' parser as booleans: insist on real strings.
    for doc in DOCS:
        for node in _metadata_nodes(doc.raw):
            for key in ("labels", "annotations"):
                for k, v in (node.get(key) or {}).items():
                    assert isinstance(v, str), f"{doc.where}: {key}.{k} = {v!r} is not a string"
        for spec in _selector_nodes(doc.raw):
            for k, v in spec.items():
                assert isinstance(v, str), f"{doc.where}: selector {k} = {v!r} is not a string"


def _metadata_nodes(raw: dict) -> list[dict]:
    found = [raw.get("metadata") or {}]
    spec = raw.get("spec") or {}
    template = spec.get("template") if isinstance(spec, dict) else None
    if isinstance(template, dict):
        found.append(template.get("metadata") or {})
    for vct in spec.get("volumeClaimTemplates") or [] if isinstance(spec, dict) else []:
        found.append(vct.get("metadata") or {})
    return found


def _selector_nodes(raw: dict) -> list[dict]:
    spec = raw.get("spec") or {}
    found = []
    if raw["kind"] == "Service":
        found.append(spec.get("selector") or {})
    elif isinstance(spec.get("selector"), dict):
        found.append(spec["selector"].get("matchLabels") or {})
    template = spec.get("template") or {}
    found.append((template.get("spec") or {}).get("nodeSelector") or {})
    return found


def test_yaml_parses_to_what_yaml_1_1_would_give() -> None:
    # A second parse with the full loader must agree with safe_load (no tags, no surprises).
    for path in manifest_files():
        assert list(yaml.safe_load_all(path.read_text())) == list(
            yaml.load_all(path.read_text(), Loader=yaml.FullLoader)
        ), path
