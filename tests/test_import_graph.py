"""No import circles between modules, and the rooms' dependency rule (ARCHITECTURE.md):
operator → router is the only arrow between operator, router and simulator; only the command
line (cli) may import all of them; nothing imports the command line.

Every import counts, including those inside functions (a lazy import is still a circle in the
design); only `if TYPE_CHECKING:` imports are left out, as they never run.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ALLOWED_ROOM_ARROWS = {
    ("operator", "router"),
    ("cli", "operator"), ("cli", "router"), ("cli", "simulator"), ("cli", "bench"),
    # The benchmarks drive whole gateways and simulated fleets, as the command line does.
    ("bench", "operator"), ("bench", "router"), ("bench", "simulator"), ("bench", "cli"),
}


def _modules() -> dict[str, Path]:
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    out = {}
    for package, directory in mapping.items():
        for file in (REPO / directory).rglob("*.py"):
            rel = file.relative_to(REPO / directory).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out[".".join([package, *parts])] = file
    return out


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, (ast.Name, ast.Attribute)) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, file: Path, known: set[str]) -> set[str]:
    package = module if file.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (child.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                names = [f"{base}.{a.name}" for a in child.names] + [base]
            for name in names:
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != module:
                    found.add(name)
            visit(child)

    visit(ast.parse(file.read_text()))
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {m: _imports(m, f, known) for m, f in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def _room(module: str) -> str:
    return module.split(".")[1]


def test_no_import_circles():
    assert _cycles(_graph()) == []


def test_rooms_follow_the_dependency_rule():
    wrong = sorted(f"{m} → {d}" for m, deps in _graph().items() for d in deps
                   if _room(m) != _room(d) and (_room(m), _room(d)) not in ALLOWED_ROOM_ARROWS)
    assert wrong == []
