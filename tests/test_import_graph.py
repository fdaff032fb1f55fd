"""The package's dependencies run one way: no import cycle between its parts (docs/ARCHITECTURE.md).

The rule. A *part* is a subpackage of `tritonwright` (`eval`, `tune`, ...) or a top-level module (`store`,
`floor`, ...). Part A depends on part B when any module of A imports anything from B, wherever the import
statement stands: at module level, inside a function (a deferred import is a dependency all the same, only a
later one) or under `if TYPE_CHECKING:`. Imports inside one part are free. The graph of parts must have no
cycle. Names handed to importlib as strings (the root CLI's list of command modules) are not imports.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = "tritonwright"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    """Absolute names of every module (or module.attribute) an import statement anywhere in `tree` names."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{alias.name}" for alias in node.names)


def _part(module: str) -> str | None:
    """The part a dotted name belongs to (`tritonwright.eval.runner` -> `eval`); None outside the package."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    name = parts[1]
    return name if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file() else None


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Part -> the other parts it imports from, built from the source with `ast` (nothing is imported)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path)
        src = _part(module)
        if src is None:
            continue
        graph.setdefault(src, set())
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported(tree, module, path.name == "__init__.py"):
            dst = _part(name)
            if dst is not None and dst != src:
                graph[src].add(dst)
    return graph


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def _path_within(graph: Mapping[str, Iterable[str]], component: list[str]) -> str:
    """One concrete loop through a component, e.g. "gpus -> prompts -> gpus", for the failure message."""
    inside = set(component)
    start = component[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(w for w in graph.get(path[-1], ()) if w in inside)
        back = [w for w in nxt if w == start]
        if back and len(path) > 1:
            return " -> ".join([*path, start])
        step = next((w for w in nxt if w not in seen), None)
        if step is None:
            return " <-> ".join(component)
        path.append(step)
        seen.add(step)


def test_no_import_cycle_between_parts() -> None:
    graph = import_graph()
    loops = [_path_within(graph, c) for c in cycles(graph)]
    assert not loops, ("import cycles between parts of the package (make one side stop importing the other, "
                       "or move the shared piece below both): " + "; ".join(loops))


def test_the_graph_sees_module_level_function_level_and_relative_imports() -> None:
    graph = import_graph()
    assert {"eval", "tune", "store", "report"} <= graph["pipeline"]  # module level and inside functions
    assert "prompts" not in graph["gpus"]  # the cycle this test was written against stays gone
    assert {"decision", "defaults"} <= graph["tune"]


def test_cycles_finds_loops_and_ignores_chains() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}) == [["a", "b", "c"]]
    assert _path_within({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c"]) == "a -> b -> c -> a"


def test_relative_imports_resolve_to_their_part() -> None:
    tree = ast.parse("from . import x\nfrom ..store import y\n\ndef f():\n    import tritonwright.floor\n")
    names = set(_imported(tree, "tritonwright.eval.runner", is_package=False))
    assert {"tritonwright.eval", "tritonwright.store", "tritonwright.floor"} <= names
    assert {_part(n) for n in names} >= {"eval", "store", "floor"}
