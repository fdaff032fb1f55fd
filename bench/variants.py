"""Slowed-on-purpose variants of an elementwise candidate, for the sensitivity test.

The variant's kernel also reads a zero buffer of `fraction` times the input's elements and adds it to the
value it stores: the output is unchanged (x + 0.0 == x) and the extra bytes come from DRAM, so the slowdown
is real memory traffic, not a sleep. Everything else (configs, launch, grid) is the original's text.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from tritonwright.candidate import module_facts

MAX_RECALIBRATION = 2.0  # one correction moves the fraction at most 2x: a wild measurement cannot run away


class VariantError(ValueError):
    """The candidate's shape is not one this generator can rewrite safely."""


@dataclass(frozen=True)
class _Sites:
    kernel: str
    tl: str  # the module's name for triton.language
    first_constexpr: ast.arg
    n_runtime_params: int
    store: ast.Expr
    store_offsets: str
    store_value: str
    launch: ast.Call


def extra_fraction_for(slowdown: float, bytes_moved: int, bytes_input: int) -> float:
    """Extra elements to read per input element so that a memory-bound kernel takes `slowdown` longer:
    extra bytes = slowdown * bytes moved, and each extra element is one input element's size."""
    if slowdown <= 0 or bytes_moved <= 0 or bytes_input <= 0:
        raise ValueError("slowdown, bytes moved and input bytes must be positive")
    return slowdown * bytes_moved / bytes_input


def recalibrate(fraction: float, target: float, measured: float) -> float:
    """Scale the fraction by target/measured (slowdown is linear in extra bytes), within MAX_RECALIBRATION.

    A measured slowdown of zero or less says the timing drifted more than the variant costs (the 2026-11-22
    H200 run saw -2.1% for a +6% read, then +22% after a 4x correction): keep the bytes model's fraction."""
    if measured <= 0:
        return fraction
    scale = min(MAX_RECALIBRATION, max(1 / MAX_RECALIBRATION, target / measured))
    return fraction * scale


def _find(source: str) -> _Sites:
    tree = ast.parse(source)
    facts = module_facts(tree)
    if not facts.kernels:
        raise VariantError("no @triton.jit kernel")
    name, kernel = next(iter(facts.kernels.items()))
    tl = next((k for k, v in facts.aliases.items() if v == "triton.language"), None)
    if tl is None:
        raise VariantError("triton.language is not imported under a name")
    params = kernel.args.args
    constexpr = [a for a in params if a.annotation is not None and ast.unparse(a.annotation).endswith("constexpr")]
    if not constexpr:
        raise VariantError(f"{name}: no tl.constexpr parameter to insert the extra arguments before")
    n_runtime = params.index(constexpr[0])
    if any(p not in constexpr for p in params[n_runtime:]):
        raise VariantError(f"{name}: runtime parameters after a constexpr one")
    stores = [s for s in ast.walk(kernel) if isinstance(s, ast.Expr) and isinstance(s.value, ast.Call)
              and ast.unparse(s.value.func) == f"{tl}.store"]
    if len(stores) != 1:
        raise VariantError(f"{name}: expected one {tl}.store statement, found {len(stores)}")
    call = stores[0].value
    assert isinstance(call, ast.Call)
    ptr = call.args[0] if call.args else None
    value = call.args[1] if len(call.args) > 1 else None
    if not (isinstance(ptr, ast.BinOp) and isinstance(ptr.op, ast.Add) and isinstance(ptr.right, ast.Name)
            and isinstance(value, ast.Name)):
        raise VariantError(f"{name}: the store is not `{tl}.store(PTR + OFFSETS, VALUE, ...)`")
    launches = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Subscript)
                and isinstance(c.func.value, ast.Name) and c.func.value.id == name]
    if len(launches) != 1:
        raise VariantError(f"{name}: expected one launch `{name}[grid](...)`, found {len(launches)}")
    if len(launches[0].args) != n_runtime or any(isinstance(a, ast.Starred) for a in launches[0].args):
        raise VariantError(f"{name}: the launch does not pass its {n_runtime} runtime arguments by position")
    return _Sites(name, tl, constexpr[0], n_runtime, stores[0], ptr.right.id, value.id, launches[0])


def _offset(lines: list[str], lineno: int, col: int) -> int:
    """Character offset in the joined text of (1-based line, byte column)."""
    before = sum(len(line) for line in lines[:lineno - 1])
    return before + len(lines[lineno - 1].encode()[:col].decode())


_HELPER = '''

_TW_EXTRA_FRACTION = {fraction!r}  # bench: extra elements read per input element, to slow the kernel on purpose
_tw_extra_cache: dict = {{}}


def _tw_extra(x):
    """A zero buffer of _TW_EXTRA_FRACTION * x.numel() elements, made once; the kernel reads it and adds 0."""
    n = max(1, int(x.numel() * _TW_EXTRA_FRACTION))
    key = (str(x.device), x.dtype, n)
    if key not in _tw_extra_cache:
        _tw_extra_cache.clear()
        _tw_extra_cache[key] = torch.zeros(n, dtype=x.dtype, device=x.device)
    return _tw_extra_cache[key]
'''


def slowed_source(source: str, fraction: float) -> str:
    """The candidate with its kernel also reading `fraction` x (input elements) of zeros from DRAM."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction}: expected 0 < fraction <= 1")
    s = _find(source)
    lines = source.splitlines(keepends=True)
    first_arg = ast.unparse(s.launch.args[0])
    last = s.launch.args[-1]
    assert last.end_lineno is not None and last.end_col_offset is not None
    store_line = lines[s.store.lineno - 1]
    indent = store_line[:len(store_line) - len(store_line.lstrip())]
    extra = (f"{indent}{s.store_value} = {s.store_value} + {s.tl}.load(tw_extra_ptr + {s.store_offsets}, "
             f"mask={s.store_offsets} < tw_n_extra, other=0.0)\n")
    # Edits from the end of the text backwards, so earlier offsets stay valid.
    edits = [
        (_offset(lines, last.end_lineno, last.end_col_offset),
         f", _tw_extra({first_arg}), _tw_extra({first_arg}).numel()"),
        (_offset(lines, s.store.lineno, 0), extra),
        (_offset(lines, s.first_constexpr.lineno, s.first_constexpr.col_offset), "tw_extra_ptr, tw_n_extra, "),
    ]
    text = "".join(lines)
    for pos, insert in sorted(edits, reverse=True):
        text = text[:pos] + insert + text[pos:]
    text = text.rstrip("\n") + "\n" + _HELPER.format(fraction=fraction)
    ast.parse(text)  # the edits must leave valid Python; a SyntaxError here is a bug in this generator
    return text
