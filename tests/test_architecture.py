"""The shape of the package (ARCHITECTURE.md): no import cycles, recipes are leaves, no private
cross-module imports, modules and functions of a readable size. Imports inside functions and
``TYPE_CHECKING`` blocks count too: a lazy import still ties two modules together."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "scifm"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DECLARATIVE = {"_register_builtins"}
"""Functions that are tables written as code (one registration call per entry)."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        name = ".".join(path.relative_to(PKG.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[tuple[str, str]]:
    """``(module, imported name)`` pairs of every scifm import in ``path``."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.add((full if full in mods else base, alias.name))
        elif isinstance(node, ast.Import):
            out.update((alias.name, "") for alias in node.names)
    return {(m, n) for m, n in out if m in mods and m != name}


MODS = _modules()
EDGES = {name: _imports(name, path, MODS) for name, path in MODS.items()}


def _cycles() -> list[list[str]]:
    graph = {m: {d for d, _ in deps} for m, deps in EDGES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_takes_part_in_an_import_cycle():
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle():
    EDGES["scifm.errors"].add(("scifm.cli.app", "app"))  # errors -> cli.app -> errors
    try:
        assert any("scifm.errors" in c for c in _cycles())
    finally:
        EDGES["scifm.errors"].discard(("scifm.cli.app", "app"))


@pytest.mark.parametrize("recipe", sorted(m for m in MODS if m.startswith("scifm.recipes.")))
def test_recipes_import_no_other_recipe(recipe):
    assert not [d for d, _ in EDGES[recipe] if d.startswith("scifm.recipes.")]


def test_no_private_name_is_imported_from_another_module():
    private = [(m, d, n) for m, deps in EDGES.items() for d, n in deps
               if n.startswith("_") and not n.startswith("__")]
    assert private == []


def test_modules_and_functions_have_a_readable_size():
    long_modules = [str(p) for p in MODS.values()
                    if p.read_text().count("\n") > MAX_MODULE_LINES]
    long_functions = []
    for path in MODS.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                    node.name not in DECLARATIVE and \
                    node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                long_functions.append(f"{path}:{node.lineno} {node.name}")
    assert long_modules == [] and long_functions == []
