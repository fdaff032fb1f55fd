"""The seed prompts' OUTPUT RULES, applied to extracted code: what can go safely (a `__main__` block, test
helpers, get_inputs/get_init_inputs, top-level test calls) is removed with a note; missing standard imports
are added with a note; what cannot be fixed (does not parse, no ModelNew, no @triton.jit kernel) is a failure
whose message is written to be fed straight into the repair prompt."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from tritonwright.candidate import Candidate, module_facts

OUTPUT_RULES_REMINDER = (
    "Return one complete Python module in a single ```python block: imports (torch, torch.nn, triton, "
    "triton.language as tl), @triton.jit kernel(s), wrapper function(s) that launch them, and "
    "class ModelNew(nn.Module) that calls them; no test code, no `if __name__ == \"__main__\":` block, no "
    "get_inputs/get_init_inputs."
)

# The harness supplies inputs itself; a candidate's own copies would be ignored at best, misleading at worst.
_TASK_FUNCTIONS = {"get_inputs", "get_init_inputs"}
# Names that models give to self-tests and benchmarks appended after the module.
_TEST_NAME = re.compile(r"^(?:test|_test|bench|benchmark|check|verify|validate|run_test|main$|demo|example)",
                        re.IGNORECASE)
# Calls that build test inputs or models at import time: top-level scaffolding, not part of the module.
_SCAFFOLD_CALLS = {"ModelNew", "Model", "get_inputs", "get_init_inputs", "torch.randn", "torch.rand",
                   "torch.randint", "torch.randn_like", "torch.rand_like", "torch.manual_seed"}
# Standard imports the rules require, added when a name is used but never bound.
_STANDARD_IMPORTS = {
    "torch": "import torch",
    "nn": "import torch.nn as nn",
    "F": "import torch.nn.functional as F",
    "triton": "import triton",
    "tl": "import triton.language as tl",
}


@dataclass(frozen=True)
class ExtractedCode:
    """Code taken from a reply: `source` when usable, else `failure` (a message for the repair prompt)."""

    source: str | None
    notes: tuple[str, ...] = ()
    failure: str | None = None

    @property
    def ok(self) -> bool:
        return self.source is not None and self.failure is None

    def candidate(self, origin: str, parent: str | None = None) -> Candidate:
        if not self.ok or self.source is None:
            raise ValueError(f"no usable code: {self.failure}")
        return Candidate(source=self.source, origin=origin, parent=parent)


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    sides = [node.test.left, *node.test.comparators]
    names = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return names and main


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _call_name(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _scaffold_call(node: ast.AST) -> str | None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            name = _call_name(sub.func)
            if name in _SCAFFOLD_CALLS:
                return name
    return None


def _defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    if isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def _used_names(nodes: list[ast.stmt]) -> set[str]:
    used: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                used.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                used.add(sub.attr)  # self.helper(...) or module.helper: keep what might be called this way
    return used


def _removal(node: ast.stmt) -> str | None:
    """Why a top-level statement is test scaffolding, or None to keep it."""
    if _is_main_guard(node):
        return "the `if __name__ == \"__main__\":` block"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        if node.name in _TASK_FUNCTIONS:
            return f"`{node.name}` (the harness supplies inputs)"
        if _TEST_NAME.match(node.name) and node.name != "ModelNew":
            return f"test helper `{node.name}`"
        return None
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return f"top-level call `{ast.unparse(node.value.func)}(...)`"
    if isinstance(node, ast.Assign | ast.AnnAssign):
        hit = _scaffold_call(node.value) if node.value is not None else None
        if hit is not None:
            return f"top-level test setup `{ast.unparse(node).splitlines()[0][:60]}`"
    return None


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _strip_scaffolding(source: str, tree: ast.Module) -> tuple[str, list[str]]:
    body = tree.body
    marked = {i: why for i, node in enumerate(body) if (why := _removal(node)) is not None}
    # A removable definition that kept code still uses stays (a helper named check_shapes called by forward).
    changed = True
    while changed:
        changed = False
        kept_uses = _used_names([n for i, n in enumerate(body) if i not in marked])
        for i in list(marked):
            if _defined_names(body[i]) & kept_uses:
                del marked[i]
                changed = True
    if not marked:
        return source, []
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()
    notes = []
    for i, why in marked.items():
        node = body[i]
        start, end = _first_line(node), node.end_lineno or node.lineno
        while start > 1 and lines[start - 2].lstrip().startswith("#"):  # its heading comment ("# Test code")
            start -= 1
        drop.update(range(start, end + 1))
        notes.append(f"removed {why} (line {node.lineno})")
    kept = "".join(line for n, line in enumerate(lines, 1) if n not in drop)
    return re.sub(r"\n{3,}", "\n\n\n", kept).rstrip() + "\n", notes


def _bound_names(tree: ast.Module) -> set[str]:
    bound: set[str] = set(module_facts(tree).aliases)
    for sub in ast.walk(tree):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(sub.name)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            bound.add(sub.id)
        elif isinstance(sub, ast.arg):
            bound.add(sub.arg)
    return bound


def _add_missing_imports(source: str, tree: ast.Module) -> tuple[str, list[str]]:
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    missing = [name for name in _STANDARD_IMPORTS if name in used and name not in _bound_names(tree)]
    if not missing:
        return source, []
    # after a module docstring and `from __future__` imports, which must stay first
    insert_at = 0
    for node in tree.body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(
            node.value.value, str)
        if is_doc or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            insert_at = node.end_lineno or node.lineno
        else:
            break
    lines = source.splitlines(keepends=True)
    added = "".join(_STANDARD_IMPORTS[name] + "\n" for name in missing)
    new = "".join(lines[:insert_at]) + added + "".join(lines[insert_at:])
    return new, [f"added missing import(s): {'; '.join(_STANDARD_IMPORTS[n] for n in missing)}"]


def _subclasses_module(tree: ast.Module, cls: ast.ClassDef) -> bool:
    facts = module_facts(tree)
    for base in cls.bases:
        dotted = facts.resolve(base) or ""
        if dotted in ("torch.nn.Module", "torch.nn.modules.module.Module"):
            return True
        if isinstance(base, ast.Name) and base.id in facts.classes and base.id != cls.name:
            return _subclasses_module(tree, facts.classes[base.id])
    return False


def _has_forward(tree: ast.Module, cls: ast.ClassDef) -> bool:
    facts = module_facts(tree)
    if any(isinstance(item, ast.FunctionDef) and item.name == "forward" for item in cls.body):
        return True
    return any(isinstance(b, ast.Name) and b.id in facts.classes and b.id != cls.name
               and _has_forward(tree, facts.classes[b.id]) for b in cls.bases)


def syntax_failure(source: str, exc: SyntaxError, *, truncated: bool = False) -> str:
    line = ""
    if exc.lineno is not None:
        lines = source.splitlines()
        if 0 < exc.lineno <= len(lines):
            line = f" (`{lines[exc.lineno - 1].strip()[:80]}`)"
    head = ("Your reply was cut off: its code block is never closed and the code does not parse" if truncated
            else "Your code does not parse")
    return f"{head}: line {exc.lineno}: {exc.msg}{line}. {OUTPUT_RULES_REMINDER}"


def apply_output_rules(source: str, notes: tuple[str, ...] = (), *, truncated: bool = False) -> ExtractedCode:
    """Check and clean one candidate module against the output rules (AST only, nothing is run)."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return ExtractedCode(None, notes, syntax_failure(source, exc, truncated=truncated))
    source, removed = _strip_scaffolding(source, tree)
    tree = ast.parse(source)
    source, imported = _add_missing_imports(source, tree)
    tree = ast.parse(source)
    all_notes = (*notes, *removed, *imported)
    facts = module_facts(tree)
    model = facts.classes.get("ModelNew")
    if model is None:
        return ExtractedCode(None, all_notes, f"Your code defines no class ModelNew. {OUTPUT_RULES_REMINDER}")
    if not _subclasses_module(tree, model):
        return ExtractedCode(None, all_notes, "Your class ModelNew does not subclass nn.Module (torch.nn.Module). "
                             + OUTPUT_RULES_REMINDER)
    if not _has_forward(tree, model):
        return ExtractedCode(None, all_notes, "Your class ModelNew has no forward method. " + OUTPUT_RULES_REMINDER)
    if not facts.kernels:
        return ExtractedCode(None, all_notes, "Your code has no @triton.jit kernel: the work must be done by a "
                             "Triton kernel, not by PyTorch operations. " + OUTPUT_RULES_REMINDER)
    return ExtractedCode(source, all_notes, None)
