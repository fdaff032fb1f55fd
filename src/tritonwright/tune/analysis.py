"""Static analysis of a candidate's Triton kernels and launch sites (AST only; nothing is executed).

It records facts (kernels, constexprs, launch sites, how each launch setting gets its value, existing
`@triton.autotune`/`@triton.heuristics`) and, per kernel, the reason a rewrite would be unsafe, if any.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field

from tritonwright.candidate import ModuleFacts, module_facts
from tritonwright.tune.configs import DEFAULT_NUM_STAGES, DEFAULT_NUM_WARPS, LaunchConfig

AUTOTUNE_NAMES = {"triton.autotune", "triton.runtime.autotune", "triton.runtime.autotuner.autotune"}
HEURISTICS_NAMES = {"triton.heuristics", "triton.runtime.heuristics", "triton.runtime.autotuner.heuristics"}
CONFIG_NAMES = {"triton.Config", "triton.runtime.Config", "triton.runtime.autotuner.Config"}
LAUNCH_OPTIONS = ("num_warps", "num_stages")  # the launch keywords the tuner owns
CONFIG_FIELDS = {"num_warps", "num_stages"}  # triton.Config keywords we carry over; others make us refuse
# triton.Config fields that a kwargs-dict entry of the same name cannot set (LLMs write {"num_stages": 2})
CONFIG_OWN_FIELDS = {"num_warps", "num_stages", "num_ctas", "maxnreg", "ir_override"}
MEMORY_OPS = {"load", "store"}  # tl.* calls whose first argument is a pointer expression
BLOCK_SHAPE_CALLS = {"arange", "zeros", "full", "reshape", "view", "broadcast_to"}  # their args are tile shapes
# The grouped ordering of a matmul's output tiles (GROUP_M, GROUP_SIZE_M in Triton's tutorial): how many rows of
# tiles share columns of B in L2. A tuning knob of tl.dot kernels only; it never changes how many programs run.
GROUP_ORDER_NAMES = frozenset({"GROUP_M", "GROUP_SIZE_M"})
MAX_FOLD_DEPTH = 32  # a constant defined through more names than this is no hand-written setting: stop following
MAX_SHIFT = 64  # powers and shifts beyond 2**64 are no launch setting; refusing them keeps folding cheap
MAX_EXPANDED_CONFIGS = 256  # an autotune list longer than this is generated for a search, not a hand-written list
FOLD_BUILTINS: dict[str, Callable[..., int]] = {"min": min, "max": max, "abs": abs, "int": int}  # pure on ints
FOLD_TRITON = {"triton.cdiv", "triton.next_power_of_2"}  # pure triton helpers: known when their arguments are


def is_group_order(name: str) -> bool:
    """GROUP_M / GROUP_SIZE_M: the tile order of a matmul (GROUP_ORDER_NAMES), in any case."""
    return name.upper() in GROUP_ORDER_NAMES


@dataclass(frozen=True)
class Setting:
    """How one launch setting (num_warps, num_stages, a constexpr) gets its value at a launch site."""

    kind: str  # literal | variable | expression | branch | default | missing | dynamic
    values: tuple[int, ...] = ()  # the possible values, when known before run time
    variable: str | None = None  # the name passed at the launch, when it is a plain variable
    arms: tuple[tuple[str, int], ...] = ()  # branch: (arm id, value) so paired constexprs keep their pairs
    reason: str = ""  # dynamic: why the value cannot be known (names the line)
    depends: tuple[str, ...] = ()  # every variable the value was folded from (`BLOCK // 32` -> BLOCK)

    @property
    def known(self) -> bool:
        return self.kind in ("literal", "variable", "expression", "default") and len(self.values) == 1

    @property
    def computed(self) -> bool:
        """Computed from other names (`BLOCK // 32`, a branch): a rewrite that owns it writes a literal, since
        what it reads may be what the tuner changed. A plain constant variable (`WARPS = 4`) is left as written."""
        if self.kind == "variable":
            return set(self.depends) != {self.variable}
        return self.kind in ("expression", "branch")


@dataclass
class LaunchSite:
    kernel: str
    call: ast.Call
    grid: ast.expr
    function: ast.FunctionDef | None  # the enclosing function (None at module level)
    bound: dict[str, ast.expr]  # kernel parameter -> argument expression
    positional: list[str]  # parameters passed positionally, in order
    keywords: dict[str, ast.keyword]  # every keyword argument, launch options included
    settings: dict[str, Setting] = field(default_factory=dict)  # num_warps, num_stages, constexprs
    loop_bound: set[str] = field(default_factory=set)  # names (re)bound inside a loop around the launch
    spread: ast.Dict | ast.Call | None = None  # the dict literal passed as `**meta`: its entries are keywords

    @property
    def line(self) -> int:
        return self.call.lineno


@dataclass
class AutotuneInfo:
    decorator: ast.Call
    configs_node: ast.expr
    configs: list[LaunchConfig] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    problem: str = ""  # why the configs cannot be read statically (empty: read)


@dataclass
class KernelInfo:
    name: str
    node: ast.FunctionDef
    params: list[str]
    constexprs: list[str]
    defaults: dict[str, ast.expr]  # parameter -> default value expression
    block_like: list[str]  # constexprs used as tile shapes (tl.arange, tl.zeros, ...) or named BLOCK*
    size_params: list[str]  # scalar parameters compared in the kernel (masks): the autotune key
    heuristics: set[str] = field(default_factory=set)  # names a @triton.heuristics decorator computes
    autotune: AutotuneInfo | None = None
    uses_dot: bool = False
    uses_atomics: bool = False
    in_place: list[str] = field(default_factory=list)  # pointer parameters both loaded from and stored to
    sites: list[LaunchSite] = field(default_factory=list)
    refusal: str = ""  # why this kernel must not be rewritten (empty: it may be)

    @property
    def top_decorator(self) -> ast.expr:
        return self.node.decorator_list[0]


@dataclass
class Analysis:
    source: str
    tree: ast.Module
    facts: ModuleFacts
    kernels: dict[str, KernelInfo]
    triton_name: str | None  # the local name bound to the triton package (`import triton`)
    parents: dict[ast.AST, ast.AST]

    def launched(self) -> list[KernelInfo]:
        return [k for k in self.kernels.values() if k.sites]


# ---------------------------------------------------------------------------------------------------------
# Small evaluators for literal expressions.


def const_int(node: ast.AST | None) -> int | None:
    """An int literal or literal arithmetic (`1024`, `2 ** 10`, `256 * 4`); None for anything else."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = const_int(node.operand)
        return -v if v is not None else None
    if isinstance(node, ast.BinOp):
        a, b = const_int(node.left), const_int(node.right)
        if a is None or b is None:
            return None
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.FloorDiv: lambda: a // b if b else None, ast.Pow: lambda: a ** b if 0 <= b < 64 else None,
               ast.LShift: lambda: a << b if 0 <= b < 64 else None}
        fn = ops.get(type(node.op))
        return fn() if fn else None
    return None


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    out: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            out[child] = node
    return out


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
    out = []
    while node in parents:
        node = parents[node]
        out.append(node)
    return out


# ---------------------------------------------------------------------------------------------------------
# Kernels.


def _is_constexpr(ann: ast.expr | None, facts: ModuleFacts) -> bool:
    if ann is None:
        return False
    dotted = facts.resolve(ann) if isinstance(ann, ast.Name | ast.Attribute) else None
    if dotted in ("triton.language.constexpr", "triton.language.core.constexpr"):
        return True
    return isinstance(ann, ast.Constant) and ann.value in ("tl.constexpr", "constexpr")


def _tl_call(node: ast.AST, facts: ModuleFacts) -> str | None:
    """`tl.load(...)` -> "load" (any triton.language function), else None."""
    if isinstance(node, ast.Call):
        dotted = facts.resolve(node.func) or ""
        if dotted.startswith("triton.language."):
            return dotted.rsplit(".", 1)[1]
    return None


def _base_pointer(expr: ast.expr) -> str | None:
    """The leftmost name of `x_ptr + offs * stride`: the pointer argument a load or store addresses."""
    while isinstance(expr, ast.BinOp):
        expr = expr.left
    return expr.id if isinstance(expr, ast.Name) else None


def _names_in(nodes: list[ast.AST]) -> set[str]:
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


Env = dict[str, int]


def _fold_items(node: ast.expr, env: Env, folder: Folder) -> tuple[list[int | tuple[int, ...]] | None, str]:
    """The values a loop or comprehension runs over: a literal list/tuple of ints (or of tuples of ints),
    `range(...)` of constants, or a name bound once at module level to such a list."""
    if isinstance(node, ast.Name) and node.id not in env:
        scope, why = folder.scope_of(node.id, node)
        bindings = _binding_nodes(node.id, scope) if scope is not None else []
        if len(bindings) != 1 or bindings[0][1] is None:
            return None, why or f"line {node.lineno}: `{node.id}` is not a list bound once to constants"
        node = bindings[0][1]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range" and \
            "range" not in folder.stored and 1 <= len(node.args) <= 3 and not node.keywords:
        parts = [folder.fold(a, env) for a in node.args]
        bad = next((p for p in parts if not p.ok or p.arms), None)
        if bad is not None or (len(parts) == 3 and parts[2].value == 0):
            return None, bad.reason if bad and bad.reason else f"{_where(node)} is not a range of constants"
        items: list[int | tuple[int, ...]] = list(range(*[p.value for p in parts if p.value is not None]))
        return (items, "") if len(items) <= MAX_EXPANDED_CONFIGS else (None, f"{_where(node)} is too long")
    if not isinstance(node, ast.List | ast.Tuple):
        return None, f"{_where(node)} is not a literal list of constants"
    out: list[int | tuple[int, ...]] = []
    for elt in node.elts:
        subs = elt.elts if isinstance(elt, ast.Tuple | ast.List) else [elt]
        parts = [folder.fold(s, env) for s in subs]
        bad = next((p for p in parts if not p.ok or p.arms), None)
        if bad is not None:
            return None, bad.reason or f"{_where(elt)} is chosen by an if/else"
        vals = tuple(p.value for p in parts if p.value is not None)
        out.append(vals if isinstance(elt, ast.Tuple | ast.List) else vals[0])
    return out, ""


def _bind_target(target: ast.expr, item: int | tuple[int, ...], env: Env) -> Env | None:
    if isinstance(target, ast.Name) and isinstance(item, int):
        return {**env, target.id: item}
    if isinstance(target, ast.Tuple | ast.List) and isinstance(item, tuple) and len(item) == len(target.elts) and \
            all(isinstance(t, ast.Name) for t in target.elts):
        return {**env, **{t.id: v for t, v in zip(target.elts, item, strict=True)}}  # type: ignore[attr-defined]
    return None


def _test(node: ast.expr, env: Env, folder: Folder) -> tuple[bool | None, str]:
    f = folder.fold(node, env)
    if not f.ok or f.arms:
        return None, f.reason or f"{_where(node)} is chosen by an if/else on sizes"
    return bool(f.value), ""


def _expand_comprehension(node: ast.ListComp, folder: Folder) -> tuple[list[tuple[ast.expr, Env]], str]:
    out: list[tuple[ast.expr, Env]] = []

    def walk(i: int, env: Env) -> str:
        if i == len(node.generators):
            out.append((node.elt, env))
            return "" if len(out) <= MAX_EXPANDED_CONFIGS else f"{_where(node)} expands to too many configs"
        gen = node.generators[i]
        items, problem = _fold_items(gen.iter, env, folder)
        if items is None or gen.is_async:
            return problem or f"line {node.lineno}: async comprehension"
        for item in items:
            inner = _bind_target(gen.target, item, env)
            if inner is None:
                return f"line {gen.target.lineno}: `{ast.unparse(gen.target)}` does not unpack {item}"
            keep = True
            for cond in gen.ifs:
                ok, problem = _test(cond, inner, folder)
                if ok is None:
                    return problem
                keep = keep and ok
            if keep:
                problem = walk(i + 1, inner)
                if problem:
                    return problem
        return ""

    problem = walk(0, {})
    return out, problem


def _expand_appends(name: str, start: ast.stmt, end_line: int, folder: Folder
                    ) -> tuple[list[tuple[ast.expr, Env]], str]:
    """`configs = []` then module-level `for ...: configs.append(triton.Config(...))`, run statically."""
    out: list[tuple[ast.expr, Env]] = []
    body = folder.tree.body

    def run(stmts: list[ast.stmt], env: Env) -> str:
        for st in stmts:
            if isinstance(st, ast.FunctionDef | ast.ClassDef) or (name not in _names_in([st]) and env == {}):
                continue  # a definition (decorators only read the list) or a statement that does not touch it
            if isinstance(st, ast.For) and not st.orelse:
                items, problem = _fold_items(st.iter, env, folder)
                if items is None:
                    return problem
                for item in items:
                    inner = _bind_target(st.target, item, env)
                    if inner is None:
                        return f"line {st.lineno}: `{ast.unparse(st.target)}` does not unpack {item}"
                    problem = run(st.body, inner)
                    if problem:
                        return problem
            elif isinstance(st, ast.If):
                ok, problem = _test(st.test, env, folder)
                if ok is None:
                    return problem
                problem = run(st.body if ok else st.orelse, env)
                if problem:
                    return problem
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and \
                    isinstance(st.value.func, ast.Attribute) and st.value.func.attr == "append" and \
                    isinstance(st.value.func.value, ast.Name) and st.value.func.value.id == name and \
                    len(st.value.args) == 1 and not st.value.keywords:
                out.append((st.value.args[0], env))
                if len(out) > MAX_EXPANDED_CONFIGS:
                    return f"line {st.lineno}: `{name}` grows past {MAX_EXPANDED_CONFIGS} configs"
            elif isinstance(st, ast.Pass):
                continue
            else:
                return (f"line {st.lineno}: `{ast.unparse(st).splitlines()[0]}` is not a for loop, an if on "
                        f"constants or `{name}.append(...)`")
        return ""

    stmts = [s for s in body if start.lineno < s.lineno < end_line]
    late = [s.lineno for s in body if s.lineno > end_line and name in _names_in([s])
            and not isinstance(s, ast.FunctionDef | ast.ClassDef)]
    late += [n.lineno for n in ast.walk(folder.tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
             and n.value.id == name and _enclosing_function(n, folder.parents) is not None]
    if late:
        return [], f"line {late[0]}: `{name}` is used again after the kernel"
    return out, run(stmts, {})


def _config_sources(node: ast.expr | None, dec: ast.Call, folder: Folder) -> tuple[list[tuple[ast.expr, Env]], str]:
    """The triton.Config expressions an autotune `configs=` argument stands for, each with its loop values."""
    where = f"autotune configs at line {dec.lineno}"
    if isinstance(node, ast.Name):  # configs=CONFIGS bound once at module level
        bindings = _binding_nodes(node.id, folder.tree)
        if len(bindings) != 1 or bindings[0][1] is None or not isinstance(bindings[0][0], ast.stmt) or \
                bindings[0][0] not in folder.tree.body:
            return [], f"{where}: `{node.id}` is not assigned exactly once at module level"
        stmt, value = bindings[0]
        if isinstance(value, ast.List) and not value.elts or any(
                isinstance(n, ast.Attribute) and n.attr == "append" and isinstance(n.value, ast.Name) and
                n.value.id == node.id for n in ast.walk(folder.tree)):
            if isinstance(value, ast.List):
                pre: list[tuple[ast.expr, Env]] = [(e, {}) for e in value.elts]
                more, problem = _expand_appends(node.id, stmt, dec.lineno, folder)  # type: ignore[arg-type]
                return pre + more, problem and f"{where}: {problem}"
            return [], f"{where}: `{node.id}` is appended to but does not start as a list literal"
        node = value
    if isinstance(node, ast.ListComp):
        out, problem = _expand_comprehension(node, folder)
        return out, problem and f"{where}: {problem}"
    if isinstance(node, ast.List | ast.Tuple):
        return [(e, {}) for e in node.elts], ""
    return [], f"{where} are built at run time, not a literal list"


def _read_config(elt: ast.expr, env: Env, facts: ModuleFacts, folder: Folder) -> LaunchConfig | str:
    if not (isinstance(elt, ast.Call) and facts.resolve(elt.func) in CONFIG_NAMES):
        return f"autotune config at line {elt.lineno} is not a triton.Config(...) call"
    meta_node = elt.args[0] if elt.args else next((k.value for k in elt.keywords if k.arg == "kwargs"), None)
    entries, _ = _dict_entries(meta_node, facts) if meta_node is not None else (None, "")
    if entries is None:
        return f"triton.Config at line {elt.lineno}: its kwargs are not a literal dict"

    def value(node: ast.expr) -> int | str:
        f = folder.fold(node, env)
        if not f.ok or f.arms or f.value is None:
            return f"triton.Config at line {elt.lineno}: {f.reason or 'a value comes from an if/else'}"
        return f.value

    meta: dict[str, int] = {}
    for k, kw in entries.items():
        if k in CONFIG_OWN_FIELDS:
            continue  # Config.all_kwargs() lets the Config's own field (default or given) win: never launched
        v = value(kw.value)
        if isinstance(v, str):
            return v
        meta[k] = v
    opts = {"num_warps": DEFAULT_NUM_WARPS, "num_stages": DEFAULT_NUM_STAGES}
    if len(elt.args) > 3:
        return f"triton.Config at line {elt.lineno} passes more than (kwargs, num_warps, num_stages)"
    given = list(zip(("num_warps", "num_stages"), elt.args[1:3], strict=False))
    for kwd in elt.keywords:
        if kwd.arg == "kwargs":
            continue
        if kwd.arg not in CONFIG_FIELDS:
            return f"triton.Config at line {elt.lineno} sets {kwd.arg}, which the tuner does not carry over"
        given.append((kwd.arg, kwd.value))
    for opt, node in given:
        v = value(node)
        if isinstance(v, str):
            return v
        opts[opt] = v
    try:
        return LaunchConfig.make(opts["num_warps"], opts["num_stages"], meta)
    except ValueError as exc:  # e.g. num_warps=3: Triton would reject it too
        return f"triton.Config at line {elt.lineno}: {exc}"


def _read_autotune(dec: ast.Call, facts: ModuleFacts, tree: ast.Module, folder: Folder | None = None
                   ) -> AutotuneInfo:
    folder = folder or Folder(tree, _parents(tree), facts)
    kw = {k.arg: k.value for k in dec.keywords if k.arg}
    configs_node = kw.get("configs") or (dec.args[0] if dec.args else None)
    key_node = kw.get("key") or (dec.args[1] if len(dec.args) > 1 else None)
    info = AutotuneInfo(decorator=dec, configs_node=configs_node or dec)
    if isinstance(key_node, ast.List | ast.Tuple):
        info.key = [e.value for e in key_node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    sources, problem = _config_sources(configs_node, dec, folder)
    if problem:
        info.problem = problem
        return info
    for elt, env in sources:
        config = _read_config(elt, env, facts, folder)
        if isinstance(config, str):
            info.problem = config
            info.configs = []
            return info
        info.configs.append(config)
    if not info.configs:
        info.problem = f"autotune configs at line {dec.lineno} expand to an empty list"
    return info


def _read_heuristics(dec: ast.Call) -> tuple[set[str], str]:
    arg = dec.args[0] if dec.args else next((k.value for k in dec.keywords if k.arg == "values"), None)
    if not isinstance(arg, ast.Dict):
        return set(), f"@triton.heuristics at line {dec.lineno} takes a dict built at run time"
    names = {k.value for k in arg.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return names, ""


def _kernel_info(fn: ast.FunctionDef, facts: ModuleFacts, tree: ast.Module,
                 folder: Folder | None = None) -> KernelInfo:
    args = fn.args
    params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
    constexprs = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]
                  if _is_constexpr(a.annotation, facts)]
    positional = [*args.posonlyargs, *args.args]
    defaults = {a.arg: d for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults,
                                         strict=True)}
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None})
    info = KernelInfo(name=fn.name, node=fn, params=params, constexprs=constexprs, defaults=defaults,
                      block_like=[], size_params=[])
    if args.vararg or args.kwarg:
        info.refusal = f"kernel {fn.name} takes *args/**kwargs: its parameters cannot be bound statically"
    shape_names: set[str] = set()
    compared: set[str] = set()
    loaded: set[str] = set()
    stored: set[str] = set()
    for node in ast.walk(fn):
        op = _tl_call(node, facts)
        if isinstance(node, ast.Call) and op:
            if op in BLOCK_SHAPE_CALLS:
                shape_names |= _names_in(list(node.args))
            if op == "dot":
                info.uses_dot = True
            if op.startswith("atomic_"):
                info.uses_atomics = True
            if op in MEMORY_OPS and node.args:
                base = _base_pointer(node.args[0])
                (loaded if op == "load" else stored).add(base or "")
        if isinstance(node, ast.Compare):
            compared |= _names_in([node])
    info.block_like = [c for c in constexprs if c in shape_names or "BLOCK" in c.upper()]
    if info.uses_dot:  # searched beside the tile sizes, in refinement only (tune/space.py)
        info.block_like += [c for c in constexprs if is_group_order(c) and c not in info.block_like]
    info.size_params = [p for p in params if p not in constexprs and p in compared]
    info.in_place = sorted((loaded & stored & set(params)) - {""})
    for dec in fn.decorator_list:
        if not isinstance(dec, ast.Call):
            continue
        dotted = facts.resolve(dec.func) or ""
        if dotted in AUTOTUNE_NAMES:
            info.autotune = _read_autotune(dec, facts, tree, folder)
            if info.autotune.problem and not info.refusal:
                info.refusal = info.autotune.problem
        elif dotted in HEURISTICS_NAMES:
            names, problem = _read_heuristics(dec)
            info.heuristics |= names
            if problem and not info.refusal:
                info.refusal = problem
    return info


# ---------------------------------------------------------------------------------------------------------
# Launch sites and how each setting gets its value.


def _rebinds(node: ast.AST, name: str) -> bool:
    """A binding whose value is not a plain expression: augmented assignment, loop target, walrus, with-as,
    import, def or class."""
    if isinstance(node, ast.AugAssign | ast.NamedExpr):
        return isinstance(node.target, ast.Name) and node.target.id == name
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return name in _names_in([node.target])
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return name in _names_in([node.optional_vars])
    if isinstance(node, ast.Import | ast.ImportFrom):
        return any((a.asname or a.name.split(".")[0]) == name for a in node.names)
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name == name
    return False


def _binding_nodes(name: str, scope: ast.AST) -> list[tuple[ast.AST, ast.expr | None]]:
    """Every statement binding `name` in scope (not inside nested functions), with the value bound if simple."""
    out: list[tuple[ast.AST, ast.expr | None]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if _rebinds(child, name):
                out.append((child, None))
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue
            if isinstance(child, ast.Assign):
                for t in child.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        out.append((child, child.value))
                    elif isinstance(t, ast.Tuple | ast.List) and name in _names_in(list(t.elts)):
                        vals = child.value.elts if isinstance(child.value, ast.Tuple | ast.List) and \
                            len(child.value.elts) == len(t.elts) else None
                        idx = next((i for i, e in enumerate(t.elts) if isinstance(e, ast.Name) and e.id == name),
                                   None)
                        out.append((child, vals[idx] if vals and idx is not None else None))
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name) and child.target.id == name:
                out.append((child, child.value))
            visit(child)

    visit(scope)
    return out


def _binding_kind(stmt: ast.AST) -> str:
    """How a binding without a plain value binds, in words, for a refusal."""
    if isinstance(stmt, ast.Assign):
        return f"unpacking `{ast.unparse(stmt.value)}`"
    kinds = {ast.AugAssign: "an augmented assignment", ast.NamedExpr: "a walrus", ast.For: "a for loop",
             ast.AsyncFor: "a for loop", ast.withitem: "a with statement", ast.Import: "an import",
             ast.ImportFrom: "an import", ast.FunctionDef: "a def", ast.AsyncFunctionDef: "a def",
             ast.ClassDef: "a class", ast.AnnAssign: "an annotation without a value"}
    return kinds.get(type(stmt), type(stmt).__name__)


def _arm_path(node: ast.AST, scope: ast.AST, parents: dict[ast.AST, ast.AST]) -> tuple[str, ...]:
    """Which if/else arms lead from `scope` to `node`: "L12.body", "L12.orelse", ... outermost first."""
    path: list[str] = []
    child = node
    for anc in _ancestors(node, parents):
        if anc is scope:
            break
        if isinstance(anc, ast.If):
            path.append(f"L{anc.lineno}.{'body' if child in anc.body else 'orelse'}")
        child = anc
    return tuple(reversed(path))


def _inside_loop(node: ast.AST, scope: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    for anc in _ancestors(node, parents):
        if anc is scope:
            return False
        if isinstance(anc, ast.For | ast.While | ast.AsyncFor):
            return True
    return False


@dataclass(frozen=True)
class Folded:
    """The value of an expression before run time: one int, one int per if/else arm, or why it is unknown."""

    value: int | None = None
    arms: tuple[tuple[str, int], ...] = ()  # (arm id, value) when the value comes from an if/else on sizes
    names: frozenset[str] = frozenset()  # the variables the value was read from
    reason: str = ""  # non-empty: the value is not known before run time, and why (names the line)

    @property
    def ok(self) -> bool:
        return not self.reason


def _where(node: ast.AST) -> str:
    return f"line {getattr(node, 'lineno', '?')}: `{ast.unparse(node)}`"


def _next_power_of_2(n: int) -> int | None:
    return 1 << (n - 1).bit_length() if n >= 1 else None  # triton.next_power_of_2's value for n >= 1


def _binop(op: ast.operator, a: int, b: int) -> int | None:
    """Integer arithmetic as Python does it; None where it has no int value or would not be a setting."""
    if isinstance(op, ast.Add):
        return a + b
    if isinstance(op, ast.Sub):
        return a - b
    if isinstance(op, ast.Mult):
        return a * b
    if isinstance(op, ast.FloorDiv | ast.Mod):
        return (a // b if isinstance(op, ast.FloorDiv) else a % b) if b else None
    if isinstance(op, ast.Pow | ast.LShift):
        return (a ** b if isinstance(op, ast.Pow) else a << b) if 0 <= b < MAX_SHIFT else None
    if isinstance(op, ast.RShift):
        return a >> b if 0 <= b < MAX_SHIFT else None
    return None


def _compare(ops: list[ast.cmpop], values: list[int]) -> bool | None:
    table: dict[type, Callable[[int, int], bool]] = {
        ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b,
        ast.GtE: lambda a, b: a >= b, ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b}
    out = True
    for op, a, b in zip(ops, values, values[1:], strict=False):
        fn = table.get(type(op))
        if fn is None:
            return None
        out = out and fn(a, b)
    return out


class Folder:
    """Static constant folding over names bound exactly once (or once per if/else arm) to constants.

    A name resolves as Python would: the innermost enclosing function that binds it, else the module. Anything
    that could change between the binding and the launch (a loop, a second assignment, `global`, a parameter,
    a call other than min/max/abs/int/triton.cdiv/triton.next_power_of_2) makes the value unknown, with why.
    """

    def __init__(self, tree: ast.Module, parents: dict[ast.AST, ast.AST], facts: ModuleFacts | None = None):
        self.tree, self.parents = tree, parents
        self.facts = facts or module_facts(tree)
        self.globals = {n: g.lineno for g in ast.walk(tree) if isinstance(g, ast.Global) for n in g.names}
        self.stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
        self.stored |= {d.name for d in ast.walk(tree) if isinstance(d, ast.FunctionDef | ast.ClassDef)}
        self.stored |= set(self.facts.aliases)
        self.cache: dict[tuple[int, str], Folded] = {}
        self.active: set[tuple[int, str]] = set()

    # -- names -------------------------------------------------------------------------------------------

    def scope_of(self, name: str, at: ast.AST) -> tuple[ast.AST | None, str]:
        """The function or module whose binding of `name` is visible at `at`, or why none can be trusted."""
        for anc in _ancestors(at, self.parents):
            if isinstance(anc, ast.Lambda) and name in {a.arg for a in anc.args.args}:
                return None, f"line {at.lineno}: `{name}` is an argument of the lambda at line {anc.lineno}"  # type: ignore[attr-defined]
            if isinstance(anc, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) and \
                    name in _names_in([g.target for g in anc.generators]):
                return None, f"line {anc.lineno}: `{name}` is a comprehension variable"
            if isinstance(anc, ast.FunctionDef | ast.AsyncFunctionDef):
                fa = anc.args
                if name in {a.arg for a in [*fa.posonlyargs, *fa.args, *fa.kwonlyargs]} or \
                        name in {a.arg for a in (fa.vararg, fa.kwarg) if a is not None}:
                    return None, f"`{name}` is a parameter of {anc.name}() (line {anc.lineno})"
                declared = [s for s in ast.walk(anc) if isinstance(s, ast.Global | ast.Nonlocal) and name in s.names]
                if any(isinstance(s, ast.Global) for s in declared):
                    break
                if not declared and _binding_nodes(name, anc):
                    return anc, ""
        if name in self.globals:
            return None, f"`{name}` is rebound through `global` (line {self.globals[name]})"
        return self.tree, ""

    def name(self, name: str, at: ast.AST, depth: int) -> Folded:
        scope, why = self.scope_of(name, at)
        if scope is None:
            return Folded(reason=why)
        key = (id(scope), name)
        if key in self.cache:
            return self.cache[key]
        if key in self.active or depth > MAX_FOLD_DEPTH:
            return Folded(reason=f"line {at.lineno}: `{name}` is defined through itself or too many names")  # type: ignore[attr-defined]
        self.active.add(key)
        try:
            out = self._bindings(name, at, scope, depth)
        finally:
            self.active.discard(key)
        self.cache[key] = out
        return out

    def _bindings(self, name: str, at: ast.AST, scope: ast.AST, depth: int) -> Folded:
        bindings = _binding_nodes(name, scope)
        if not bindings:
            return Folded(reason=f"line {at.lineno}: `{name}` is not assigned in this file")  # type: ignore[attr-defined]
        values: list[tuple[str, int]] = []
        names = {name}
        for stmt, value in bindings:
            line = stmt.lineno  # type: ignore[attr-defined]
            if value is None:
                return Folded(reason=f"line {line}: `{name}` is bound by {_binding_kind(stmt)}, not to a constant")
            if _inside_loop(stmt, scope, self.parents):
                return Folded(reason=f"line {line}: `{name}` is assigned inside a loop")
            inner = self.fold(value, depth=depth + 1)
            if not inner.ok:
                return Folded(reason=f"line {line}: `{name} = {ast.unparse(value)}` is computed at run time "
                              f"({inner.reason})")
            if len(bindings) == 1:
                return Folded(inner.value, inner.arms, inner.names | names)
            if inner.arms:
                return Folded(reason=f"line {line}: `{name}` is assigned in an if/else from another if/else")
            names |= inner.names
            values.append((".".join(_arm_path(stmt, scope, self.parents)) or "top", inner.value))  # type: ignore[arg-type]
        arms = {a for a, _ in values}
        if len(arms) != len(values) or "top" in arms:
            lines = ", ".join(f"line {s.lineno}" for s, _ in bindings)  # type: ignore[attr-defined]
            return Folded(reason=f"`{name}` is reassigned on one path ({lines})")
        return Folded(arms=tuple(values), names=frozenset(names))

    # -- expressions -------------------------------------------------------------------------------------

    def fold(self, node: ast.AST, env: dict[str, int] | None = None, depth: int = 0) -> Folded:
        """The int value of `node`; `env` holds loop and comprehension variables being expanded."""
        env = env or {}
        if isinstance(node, ast.Constant):
            if type(node.value) is int:
                return Folded(node.value)
            return Folded(reason=f"{_where(node)} is not an int")
        if isinstance(node, ast.Name):
            if node.id in env:
                return Folded(env[node.id])
            return self.name(node.id, node, depth)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return self.combine(node, [self.fold(node.operand, env, depth)], lambda a: sign * a)
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return Folded(reason=f"{_where(node)} divides with `/`, which gives a float")
            op = node.op
            return self.combine(node, [self.fold(node.left, env, depth), self.fold(node.right, env, depth)],
                                lambda a, b: _binop(op, a, b))
        if isinstance(node, ast.Compare):
            parts = [self.fold(n, env, depth) for n in [node.left, *node.comparators]]
            ops = node.ops
            return self.combine(node, parts, lambda *v: _compare(ops, list(v)))
        if isinstance(node, ast.IfExp):
            parts = [self.fold(n, env, depth) for n in (node.test, node.body, node.orelse)]
            return self.combine(node, parts, lambda t, a, b: a if t else b)
        if isinstance(node, ast.Call):
            return self._call(node, env, depth)
        return Folded(reason=f"{_where(node)} is not a constant expression")

    def _call(self, node: ast.Call, env: dict[str, int], depth: int) -> Folded:
        fn: Callable[..., int | None] | None = None
        func = node.func
        dotted = self.facts.resolve(func) or ""
        n = len(node.args)
        if isinstance(func, ast.Name) and func.id in FOLD_BUILTINS and func.id not in self.stored:
            arity_ok = n >= 2 if func.id in ("min", "max") else n == 1  # min(x) of one int is a TypeError
            fn = FOLD_BUILTINS[func.id] if arity_ok else None
        elif dotted == "triton.cdiv" and n == 2:
            fn = lambda a, b: -(-a // b) if b else None  # noqa: E731 - triton.cdiv's definition
        elif dotted == "triton.next_power_of_2" and n == 1:
            fn = _next_power_of_2
        if fn is None or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            return Folded(reason=f"{_where(node)} calls {ast.unparse(func)}(), whose result is known only at "
                          "run time")
        return self.combine(node, [self.fold(a, env, depth) for a in node.args], fn)

    @staticmethod
    def combine(node: ast.AST, parts: list[Folded], fn: Callable[..., int | bool | None]) -> Folded:
        """Apply `fn` to folded parts; values from the same if/else arms combine arm by arm."""
        for p in parts:
            if not p.ok:
                return p
        names = frozenset().union(*(p.names for p in parts))
        armed = [p for p in parts if p.arms]
        nothing = Folded(reason=f"{_where(node)} has no int value (division by zero or a huge power)")
        if not armed:
            v = fn(*(p.value for p in parts))
            return nothing if v is None else Folded(int(v), names=names)
        keys = [a for a, _ in armed[0].arms]
        if any([a for a, _ in p.arms] != keys for p in armed[1:]):
            return Folded(reason=f"{_where(node)} combines if/else values that do not pair arm by arm")
        out = []
        for i, key in enumerate(keys):
            v = fn(*(p.arms[i][1] if p.arms else p.value for p in parts))
            if v is None:
                return nothing
            out.append((key, int(v)))
        return Folded(arms=tuple(out), names=names)


def resolve_setting(expr: ast.expr, function: ast.FunctionDef | None, tree: ast.Module,
                    parents: dict[ast.AST, ast.AST], folder: Folder | None = None) -> Setting:
    """How the expression passed for a launch setting gets its value (`function` is kept for callers; the
    scope is found from the expression's own place in the tree)."""
    folded = (folder or Folder(tree, parents)).fold(expr)
    variable = expr.id if isinstance(expr, ast.Name) else None
    depends = tuple(sorted(folded.names))
    if not folded.ok:
        return Setting("dynamic", variable=variable, reason=folded.reason)
    if folded.arms:
        return Setting("branch", tuple(sorted({v for _, v in folded.arms})), variable=variable, arms=folded.arms,
                       depends=depends)
    assert folded.value is not None  # ok and no arms: one value
    if not depends:
        return Setting("literal", (folded.value,))
    return Setting("variable" if variable else "expression", (folded.value,), variable=variable, depends=depends)


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> ast.FunctionDef | None:
    return next((a for a in _ancestors(node, parents) if isinstance(a, ast.FunctionDef)), None)


def _loop_bound_names(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> set[str]:
    names: set[str] = set()
    for anc in _ancestors(call, parents):
        if isinstance(anc, ast.FunctionDef):
            break
        if isinstance(anc, ast.For | ast.While | ast.AsyncFor):
            if isinstance(anc, ast.For | ast.AsyncFor):
                names |= _names_in([anc.target])
            for node in ast.walk(anc):
                if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.NamedExpr):
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    names |= _names_in(list(targets))
    return names


def _dict_entries(node: ast.expr, facts: ModuleFacts) -> tuple[dict[str, ast.keyword] | None, str]:
    """The entries of a dict literal (`{"BLOCK": 1024}` or `dict(BLOCK=1024)`) as keywords at their values."""
    out: dict[str, ast.keyword] = {}
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                return None, f"line {v.lineno}: a key of `{ast.unparse(node)}` is not a string literal"
            out[k.value] = ast.copy_location(ast.keyword(arg=k.value, value=v), v)
        return out, ""
    if isinstance(node, ast.Call) and facts.resolve(node.func) == "dict" and not node.args and \
            all(k.arg for k in node.keywords):
        return {k.arg: k for k in node.keywords if k.arg}, ""
    return None, f"{_where(node)} is not a dict literal"


def _spread(kernel: KernelInfo, call: ast.Call, kw: ast.keyword, folder: Folder
            ) -> tuple[ast.Dict | ast.Call | None, dict[str, ast.keyword], str]:
    """`kernel[grid](..., **meta)`: the dict literal `meta` is bound to, when it is bound once and used only
    by launches of this kernel (so editing the literal edits exactly these launches)."""
    where = f"launch of {kernel.name} at line {call.lineno} passes `**{ast.unparse(kw.value)}`"
    node: ast.expr | None = kw.value
    if isinstance(node, ast.Name):
        name = node.id
        scope, why = folder.scope_of(name, node)
        bindings = _binding_nodes(name, scope) if scope is not None else []
        if scope is None or len(bindings) != 1:
            return None, {}, f"{where}: {why or f'`{name}` is not bound exactly once'}"
        stmt, node = bindings[0]
        if node is None or _inside_loop(stmt, scope, folder.parents):
            return None, {}, f"{where}: `{name}` (line {stmt.lineno}) is not a dict literal bound once"  # type: ignore[attr-defined]
        for use in ast.walk(scope):
            if not (isinstance(use, ast.Name) and use.id == name and isinstance(use.ctx, ast.Load)):
                continue
            holder = folder.parents.get(use)
            launch = folder.parents.get(holder) if holder is not None else None
            ours = isinstance(holder, ast.keyword) and holder.arg is None and isinstance(launch, ast.Call) and \
                isinstance(launch.func, ast.Subscript) and isinstance(launch.func.value, ast.Name) and \
                launch.func.value.id == kernel.name
            if not ours:
                return None, {}, (f"{where}: `{name}` is also used at line {use.lineno} "
                                  f"(`{ast.unparse(holder or use)}`), so it may change or be shared")
    assert node is not None
    entries, problem = _dict_entries(node, folder.facts)
    if entries is None:
        return None, {}, f"{where}: {problem}"
    return node, entries, ""  # type: ignore[return-value]


def _site(kernel: KernelInfo, call: ast.Call, grid: ast.expr, tree: ast.Module,
          parents: dict[ast.AST, ast.AST], folder: Folder | None = None) -> tuple[LaunchSite | None, str]:
    folder = folder or Folder(tree, parents)
    if any(isinstance(a, ast.Starred) for a in call.args):
        return None, f"launch of {kernel.name} at line {call.lineno} passes *args"
    if len(call.args) > len(kernel.params):
        return None, f"launch of {kernel.name} at line {call.lineno} passes more arguments than it has parameters"
    spreads = [k for k in call.keywords if k.arg is None]
    if len(spreads) > 1:
        return None, f"launch of {kernel.name} at line {call.lineno} passes more than one **dict"
    function = _enclosing_function(call, parents)
    positional = kernel.params[:len(call.args)]
    bound: dict[str, ast.expr] = dict(zip(positional, call.args, strict=True))
    keywords = {k.arg: k for k in call.keywords if k.arg}
    spread: ast.Dict | ast.Call | None = None
    if spreads:
        spread, entries, problem = _spread(kernel, call, spreads[0], folder)
        if spread is None:
            return None, problem
        twice = sorted((set(entries) & set(keywords)) | (set(entries) & set(positional)))
        if twice:
            return None, f"launch of {kernel.name} at line {call.lineno} passes {', '.join(twice)} twice"
        keywords.update(entries)
    bound.update({n: k.value for n, k in keywords.items() if n in kernel.params})
    site = LaunchSite(kernel=kernel.name, call=call, grid=grid, function=function, bound=bound,
                      positional=positional, keywords=keywords, loop_bound=_loop_bound_names(call, parents),
                      spread=spread)
    for opt, default in (("num_warps", DEFAULT_NUM_WARPS), ("num_stages", DEFAULT_NUM_STAGES)):
        site.settings[opt] = (resolve_setting(keywords[opt].value, function, tree, parents, folder)
                              if opt in keywords else Setting("default", (default,)))
    for c in kernel.constexprs:
        if c in bound:
            site.settings[c] = resolve_setting(bound[c], function, tree, parents, folder)
        elif c in kernel.defaults and (default_value := const_int(kernel.defaults[c])) is not None:
            site.settings[c] = Setting("default", (default_value,))
        else:
            site.settings[c] = Setting("missing", reason=f"{c} is not passed at the launch")
    return site, ""


def _kernel_uses(analysis_tree: ast.Module, kernels: dict[str, KernelInfo], facts: ModuleFacts,
                 parents: dict[ast.AST, ast.AST], folder: Folder | None = None) -> None:
    """Attach launch sites; refuse kernels used in any other way (passed around as values)."""
    for node in ast.walk(analysis_tree):
        if not (isinstance(node, ast.Name) and node.id in kernels and isinstance(node.ctx, ast.Load)):
            continue
        k = kernels[node.id]
        sub = parents.get(node)
        call = parents.get(sub) if sub is not None else None
        if isinstance(sub, ast.Subscript) and sub.value is node and isinstance(call, ast.Call) and call.func is sub:
            site, problem = _site(k, call, sub.slice, analysis_tree, parents, folder)
            if site is not None:
                k.sites.append(site)
            elif not k.refusal:
                k.refusal = problem
        elif isinstance(sub, ast.Attribute) and sub.attr in ("fn", "__name__", "arg_names"):
            continue  # reading an attribute does not launch or alias the kernel
        elif not k.refusal:
            k.refusal = (f"kernel {k.name} is used as a value at line {node.lineno} "
                         f"(`{ast.unparse(sub or node)}`): a rewrite could not follow where it is launched")
    for k in kernels.values():
        if k.refusal:
            continue
        for site in k.sites:
            changing = sorted(n for n in site.loop_bound if any(
                s.variable == n or n in s.depends for s in site.settings.values()))
            if changing:
                k.refusal = (f"launch of {k.name} at line {site.line} is inside a loop that rebinds "
                             f"{', '.join(changing)}: its launch settings change between iterations")
                break


def analyse(source: str) -> Analysis:
    """Facts about every @triton.jit kernel and its launches. Raises SyntaxError for unparsable source."""
    tree = ast.parse(source)
    facts = module_facts(tree)
    parents = _parents(tree)
    folder = Folder(tree, parents, facts)
    kernels = {name: _kernel_info(fn, facts, tree, folder) for name, fn in facts.kernels.items()}
    _kernel_uses(tree, kernels, facts, parents, folder)
    triton_name = next((local for local, dotted in facts.aliases.items() if dotted == "triton"), None)
    return Analysis(source=source, tree=tree, facts=facts, kernels=kernels, triton_name=triton_name,
                    parents=parents)
