"""Which outputs of ModelNew come from data a Triton kernel wrote (runs in the candidate's child).

A kernel launched for show, whose result is thrown away while PyTorch computes the answer, passes every
correctness check. So the candidate child follows storages:
- written: tensors passed to a Triton launch for a pointer parameter the kernel stores to (read statically
  from the kernel's source: `tl.store`/`tl.atomic_*` on that parameter, directly or through a name it was
  assigned to; a kernel whose stores cannot be traced marks every tensor argument, so doubt never rejects);
- derived: results of PyTorch ops that read a written or derived storage (views share their storage);
- cleared: fresh allocations, and storages overwritten by `copy_`/`fill_`/`zero_` from data that is neither.
Every output must be written or derived; otherwise the candidate is REJECTED, naming the output.
Storages are keyed by their data pointer for the length of one forward pass.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

STORE_CALLS = {"store", "atomic_add", "atomic_and", "atomic_cas", "atomic_max", "atomic_min", "atomic_or",
               "atomic_xchg", "atomic_xor"}  # tl.* calls whose first argument is written through
OVERWRITES = {"aten::copy_", "aten::fill_", "aten::zero_"}  # the first argument's old contents are gone
FRESH_PREFIXES = ("aten::empty", "aten::new_empty", "aten::zeros", "aten::ones", "aten::full", "aten::rand",
                  "aten::randn", "aten::arange")  # new storage: whatever lived at that address before is gone


TRITON_ROOTS = {"tl", "triton", "libdevice", "range", "min", "max", "len", "int", "float", "bool"}  # calls
# that never store through a pointer argument (Triton's language, loops, builtins)


def _root(func: ast.expr) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def stored_params(source: str) -> set[str] | None:
    """Pointer parameters a kernel stores through; None when its stores cannot be traced (then every tensor
    argument counts as written: the check may miss a show kernel, it never rejects a real one)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return None
    fn = next((n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)), None)
    if fn is None:
        return None
    params = {a.arg for a in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]}
    assigned: dict[str, set[str]] = {}  # local name -> names its values are built from (all assignments)
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for name in _names(t):
                    assigned.setdefault(name, set()).update(_names(node.value))
    out: set[str] = set()
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr in STORE_CALLS and node.args:
            seen: set[str] = set()
            todo = list(_names(node.args[0]))
            while todo:  # follow `ptrs = out_ptr + offs` back to the parameters it is built from
                name = todo.pop()
                if name in seen:
                    continue
                seen.add(name)
                todo += list(assigned.get(name, ()))
            out |= seen & params
        elif _root(node.func) not in TRITON_ROOTS and any(
                isinstance(a, ast.Name) and a.id in params for a in [*node.args, *(k.value for k in node.keywords)]):
            return None  # a helper gets a parameter (maybe a pointer): it may store through it
    if not out:
        return None
    return out


@dataclass
class Provenance:
    """Written and derived storages of one forward pass."""

    active: bool = False
    launched: bool = False  # a Triton kernel ran this pass (none at all is the launch check's verdict)
    written: set[int] = field(default_factory=set)
    derived: set[int] = field(default_factory=set)
    _stores: dict[int, set[str] | None] = field(default_factory=dict)  # kernel id -> stored params

    def reset(self, active: bool) -> None:
        self.active = active
        self.launched = False
        self.written.clear()
        self.derived.clear()

    def _stored(self, kernel: Any) -> set[str] | None:
        key = id(kernel)
        if key not in self._stores:
            fn = getattr(kernel, "fn", kernel)
            try:
                src = getattr(kernel, "src", None) or inspect.getsource(fn)
            except (OSError, TypeError):
                src = ""
            self._stores[key] = stored_params(src) if src else None
        return self._stores[key]

    def on_launch(self, kernel: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """A Triton launch: mark the storages of the pointer arguments it stores through."""
        if not self.active:
            return
        self.launched = True
        names = list(getattr(kernel, "arg_names", []) or [])
        bound = dict(zip(names, args, strict=False)) | {k: v for k, v in kwargs.items() if k in names}
        stored = self._stored(kernel)
        for name, value in (bound.items() if names else enumerate(args)):
            if isinstance(value, torch.Tensor) and (stored is None or name in stored):
                self.written.add(_key(value))

    def on_op(self, name: str, args: Any, kwargs: Any, result: Any) -> None:
        """A PyTorch op dispatched by the candidate (outside Triton)."""
        if not self.active:
            return
        ins = list(_tensors((args, kwargs)))
        if name.startswith(FRESH_PREFIXES):
            for t in _tensors(result):
                self.written.discard(_key(t))
                self.derived.discard(_key(t))
            return
        if name in OVERWRITES and ins:
            dst, sources = ins[0], ins[1:]
            k = _key(dst)
            if any(self.has(s) for s in sources):
                self.derived.add(k)  # copied from kernel data
                return
            if not _covers_storage(dst):
                return  # a part overwritten (y[3] = nan): the rest still holds what it held
            self.written.discard(k)
            self.derived.discard(k)
            return
        if any(self.has(t) for t in ins):
            for t in _tensors(result):
                self.derived.add(_key(t))

    def has(self, t: torch.Tensor) -> bool:
        k = _key(t)
        return k in self.written or k in self.derived

    def problem(self, outputs: list[Any]) -> str | None:
        """Why an output does not come from a Triton kernel, or None."""
        if not self.active or not self.launched:
            return None
        for i, o in enumerate(outputs):
            if isinstance(o, torch.Tensor) and o.numel() and not self.has(o):
                return (f"output {i} is not computed from any Triton kernel's output: ModelNew returns a tensor "
                        "PyTorch computed while the kernels' results are not used (launching a kernel for "
                        "show does not count)")
        return None


def _covers_storage(t: torch.Tensor) -> bool:
    """Whether writing every element of `t` overwrites its whole storage (not a slice of it)."""
    try:
        return t.numel() * t.element_size() >= t.untyped_storage().nbytes()
    except (RuntimeError, NotImplementedError):
        return True


def _key(t: torch.Tensor) -> int:
    try:
        return int(t.untyped_storage().data_ptr())
    except (RuntimeError, NotImplementedError):  # a tensor without storage (meta, subclass): its own id
        return id(t)


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        for v in value:
            yield from _tensors(v)


PROV = Provenance()  # the candidate child's one tracker (reset by each forward pass the judge runs)
