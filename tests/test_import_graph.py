"""The import graph of pharmsafe/ has no cycle: no module imports one that imports it back, directly
or through others. Every import counts, the ones inside functions too, so that a lazy import cannot
hide a loop; only imports under ``if TYPE_CHECKING:`` are left out (they never run)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pharmsafe

ROOT = Path(pharmsafe.__file__).parent
PACKAGE_ROOT = ROOT.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def imports_of(source: str, name: str, package: bool, modules: set[str]) -> set[str]:
    """The pharmsafe modules ``name`` imports: ``from a.b import c`` is an edge to a.b.c when that is a
    module, else to a.b."""
    tree = ast.parse(source)
    skipped = _type_checking_blocks(tree)
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = name.split(".") if package else name.split(".")[:-1]
                base_parts = base_parts[:len(base_parts) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    paths = [p for p in ROOT.rglob("*.py") if "migrations" not in p.relative_to(ROOT).parts[:1]]
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p.read_text(), module_name(p), is_package(p), modules) for p in paths}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read():
    edges = graph()
    assert "pharmsafe.gates" in edges and "pharmsafe.cli" in edges
    assert "pharmsafe.gates.results" in edges["pharmsafe.gates"]


def test_pharmsafe_has_no_import_cycle():
    found = cycles(graph())
    assert found == [], "modules that import each other: " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("edges,expected", [
    ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
])
def test_the_cycle_check_itself(edges, expected):
    assert cycles(edges) == expected


def test_a_lazy_import_counts():
    modules = {"p", "p.a", "p.b"}
    source = "def f():\n    from p.b import thing\n"
    assert imports_of(source, "p.a", False, modules) == {"p.b"}
    assert imports_of("from . import b\n", "p.a", False, modules) == {"p.b"}
    assert imports_of("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.b\n", "p.a", False,
                      modules) == set()
