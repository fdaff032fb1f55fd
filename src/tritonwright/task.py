"""Load a task file in the KernelBench format: `class Model`, `get_inputs()`, `get_init_inputs()`.

The parent process only reads and checks the source (AST); the module is executed inside child processes
(`exec_task_module`), so a task that hangs or crashes on import cannot take the parent down.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from tritonwright.errors import TaskError

REQUIRED_NAMES = ("Model", "get_inputs", "get_init_inputs")


@dataclass(frozen=True)
class Task:
    """A reference problem: its (possibly overridden) source and what identifies it."""

    path: str
    name: str
    source: str
    overrides: dict[str, str] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)  # module-level NAME -> source text of its value

    @property
    def hash(self) -> str:
        """Content hash of the source actually run (overrides applied): the cache key of baselines."""
        return hashlib.sha256(self.source.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "name": self.name, "hash": self.hash, "overrides": dict(self.overrides)}


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """Turn ["dim=4096", ...] from --set into {"dim": "4096"}; malformed items are a user error."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name.isidentifier() or not value:
            raise TaskError(f"--set {item!r}: expected NAME=VALUE, e.g. --set dim=4096")
        out[name] = value
    return out


def _parse(source: str, path: str) -> ast.Module:
    try:
        return ast.parse(source, filename=path)
    except SyntaxError as exc:
        raise TaskError(f"{path}:{exc.lineno}: syntax error: {exc.msg}") from None


def module_constants(tree: ast.Module, source: str) -> dict[str, ast.expr]:
    """Top-level `NAME = value` assignments (the KernelBench size constants), last one wins; tuple
    unpacking of a literal tuple (`depth, height, width = 16, 32, 32`) gives each name its own element, and a
    chained assignment (`height = width = 256`, common in KernelBench) gives every target the value."""
    return {name: value for name, (value, _) in _constant_sites(tree).items()}


def _constant_sites(tree: ast.Module) -> dict[str, tuple[ast.expr, ast.Assign | None]]:
    """NAME -> (its value expression, the chained assignment it is one target of, or None)."""
    sites: dict[str, tuple[ast.expr, ast.Assign | None]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            chain = node if len(node.targets) > 1 else None
            for target in node.targets:
                sites.update({n: (v, chain) for n, v in _unpacked(target, node.value).items()})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            sites[node.target.id] = (node.value, None)
    return sites


def _unpacked(target: ast.expr, value: ast.expr) -> dict[str, ast.expr]:
    """`a, (b, c) = 1, (2, 3)` -> {a: 1, b: 2, c: 3}; nothing for a starred target or a value that is not a
    tuple/list display of the same length (e.g. `a, b = sizes()`: no element's text to replace)."""
    if isinstance(target, ast.Name):
        return {target.id: value}
    if not isinstance(target, ast.Tuple | ast.List) or not isinstance(value, ast.Tuple | ast.List):
        return {}
    if len(target.elts) != len(value.elts) or any(isinstance(e, ast.Starred) for e in (*target.elts, *value.elts)):
        return {}
    out: dict[str, ast.expr] = {}
    for t, v in zip(target.elts, value.elts, strict=True):
        out.update(_unpacked(t, v))
    return out


def _split_chain(source: str, chain: ast.Assign, overrides: dict[str, str], path: str) -> str:
    """`height = width = 256` with height overridden -> `width = 256; height = 8`: the other targets keep the
    value (evaluated once, as before), each overridden name gets its own assignment after them."""
    value = ast.get_source_segment(source, chain.value) or ""
    kept, own = [], []
    for target in chain.targets:
        unpacked = sorted(set(_unpacked(target, chain.value)) & set(overrides))
        if isinstance(target, ast.Name) and target.id in overrides:
            own.append(f"{target.id} = {overrides[target.id]}")
        elif unpacked:
            name = unpacked[0]
            raise TaskError(f"{path}:{chain.lineno}: --set {name}: it is unpacked from a chained assignment; "
                            "write it as its own `NAME = value` line in the task to override it")
        else:
            kept.append(ast.get_source_segment(source, target) or "")
    return "; ".join([" = ".join([*kept, value])] * bool(kept) + own)


def _apply_overrides(source: str, tree: ast.Module, overrides: dict[str, str], path: str) -> str:
    """Replace the value expression of each overridden constant with the given literal, in the text (a chained
    assignment is split so that only the overridden names change)."""
    sites = _constant_sites(tree)
    lines = source.splitlines(keepends=True)
    edits: dict[tuple[int, int, int, int], str] = {}
    for name, value in overrides.items():
        if name not in sites:
            known = ", ".join(sorted(sites)) or "none"
            raise TaskError(f"{path}: --set {name}: no module-level constant named {name!r} (constants: {known})")
        try:
            new_value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise TaskError(f"{path}: --set {name}={value}: value must be a Python literal (number, string, "
                            "tuple)") from None
        node, chain = sites[name]
        _check_like(path, name, value, new_value, node)
        span = chain or node
        assert span.end_lineno is not None and span.end_col_offset is not None
        text = _split_chain(source, chain, overrides, path) if chain else value
        edits[(span.lineno, span.col_offset, span.end_lineno, span.end_col_offset)] = text
    # Apply from the end so earlier offsets stay valid.
    for (lineno, col, end_lineno, end_col), value in sorted(edits.items(), reverse=True):
        first = lines[lineno - 1].encode()
        last = lines[end_lineno - 1].encode()
        new = first[:col].decode() + value + last[end_col:].decode()
        lines[lineno - 1:end_lineno] = [new]
    return "".join(lines)


def _check_like(path: str, name: str, text: str, new: object, node: ast.expr) -> None:
    """A size stays a size: a constant the task wrote as a positive integer (batch_size = 16) takes only a
    positive integer, a number only a number, so `--set batch_size=-1` or `dim=4.5` fails here, in one line,
    instead of deep inside get_inputs()."""
    try:
        old = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return  # an expression (dim = 4 * 1024): its kind is not known without running it
    if isinstance(old, bool) or isinstance(new, bool):
        return
    if isinstance(old, int) and old > 0 and not (isinstance(new, int) and new > 0):
        raise TaskError(f"{path}: --set {name}={text}: the task sets {name} = {old}, a size: expected a whole "
                        "number >= 1")
    if isinstance(old, int | float) and not isinstance(new, int | float):
        raise TaskError(f"{path}: --set {name}={text}: the task sets {name} = {old}: expected a number")


def check_task_source(source: str, path: str) -> ast.Module:
    """Static checks that give one clear line for each thing a task file must have."""
    tree = _parse(source, path)
    defined: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            defined[node.name] = "class"
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined[node.name] = "function"
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    defined[t.id] = "assignment"
    missing = [n for n in REQUIRED_NAMES if n not in defined]
    if missing:
        what = {"Model": "class Model(nn.Module)", "get_inputs": "def get_inputs()",
                "get_init_inputs": "def get_init_inputs()"}
        raise TaskError(f"{path}: not a KernelBench task: missing " + ", ".join(what[m] for m in missing))
    if defined["Model"] != "class":
        raise TaskError(f"{path}: Model must be a class (an nn.Module), found a {defined['Model']}")
    return tree


def load_task(path: str | Path, overrides: dict[str, str] | None = None) -> Task:
    """Read and check a task file; apply --set overrides to its module-level constants."""
    p = Path(path)
    if not p.is_file():
        raise TaskError(f"{p}: task file not found")
    try:
        source = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"{p}: cannot read task file: {exc}") from None
    tree = check_task_source(source, str(p))
    overrides = dict(overrides or {})
    if overrides:
        source = _apply_overrides(source, tree, overrides, str(p))
        tree = check_task_source(source, str(p))
    consts = {k: ast.get_source_segment(source, v) or "" for k, v in module_constants(tree, source).items()}
    return Task(path=str(p), name=p.stem, source=source, overrides=overrides, constants=consts)


def exec_task_module(task: Task, module_name: str = "tritonwright_reference") -> types.ModuleType:
    """Execute the task source as a module (inside a child process). Tracebacks point at the real file."""
    module = types.ModuleType(module_name)
    module.__file__ = task.path
    sys.modules[module_name] = module
    code = compile(task.source, task.path, "exec")
    exec(code, module.__dict__)
    return module
