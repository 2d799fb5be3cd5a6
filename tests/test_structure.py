"""The shape of the code: no import cycles, layers that only look down, modules of a readable size.

Read from the source with `ast` (nothing is imported), so a cycle hidden in a function-level
import counts too; imports under `if TYPE_CHECKING:` do not run and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "harvis"
MAX_LINES = 400

# Which top-level parts of Harvis a part may import (besides itself, config and errors).
LAYERS: dict[str, set[str]] = {
    "store": set(),
    "models": set(),
    "llm": {"models"},
    "speech": {"models", "store"},
    "tools": {"llm", "store"},
    "pipeline": {"llm", "speech", "store", "tools"},
    "wyoming": {"llm", "speech", "pipeline", "store", "models", "tools"},
    "api": {"llm", "speech", "pipeline", "store", "models", "wyoming", "tools"},
    "doctor": {"llm", "speech", "store", "models"},
}
ANYWHERE = {"config", "errors"}


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path, known: set[str]) -> set[str]:
    """Harvis modules that `path` imports when it runs (any depth, TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "harvis")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "harvis":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in known else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m in known}


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, known) - {name} for name, path in mods.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(graph())
    assert not found, "import cycles (break them by moving the shared part down a layer): " + "; ".join(
        " <-> ".join(c) for c in found
    )


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_layers_only_import_downwards() -> None:
    wrong = []
    for module, targets in graph().items():
        part = part_of(module)
        if part not in LAYERS:
            continue
        allowed = LAYERS[part] | ANYWHERE | {part, ""}
        wrong += [f"{module} -> {t}" for t in sorted(targets) if part_of(t) not in allowed]
    assert not wrong, "imports against the layering (api → pipeline → llm/speech → store):\n" + "\n".join(
        wrong
    )


def test_modules_stay_readable() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules past {MAX_LINES} lines (split them): {long}"
