"""Static analysis of a candidate's Triton kernels and launch sites (AST only; nothing is executed).

It records facts (kernels, constexprs, launch sites, how each launch setting gets its value, existing
`@triton.autotune`/`@triton.heuristics`) and, per kernel, the reason a rewrite would be unsafe, if any.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tritonwright.candidate import ModuleFacts, module_facts
from tritonwright.tune.configs import DEFAULT_NUM_STAGES, DEFAULT_NUM_WARPS, LaunchConfig

AUTOTUNE_NAMES = {"triton.autotune", "triton.runtime.autotune", "triton.runtime.autotuner.autotune"}
HEURISTICS_NAMES = {"triton.heuristics", "triton.runtime.heuristics", "triton.runtime.autotuner.heuristics"}
CONFIG_NAMES = {"triton.Config", "triton.runtime.Config", "triton.runtime.autotuner.Config"}
LAUNCH_OPTIONS = ("num_warps", "num_stages")  # the launch keywords the tuner owns
CONFIG_FIELDS = {"num_warps", "num_stages"}  # triton.Config keywords we carry over; others make us refuse
MEMORY_OPS = {"load", "store"}  # tl.* calls whose first argument is a pointer expression
BLOCK_SHAPE_CALLS = {"arange", "zeros", "full", "reshape", "view", "broadcast_to"}  # their args are tile shapes


@dataclass(frozen=True)
class Setting:
    """How one launch setting (num_warps, num_stages, a constexpr) gets its value at a launch site."""

    kind: str  # literal | variable | branch | default | missing | dynamic
    values: tuple[int, ...] = ()  # the possible values, when known before run time
    variable: str | None = None  # the name passed at the launch, when it is a plain variable
    arms: tuple[tuple[str, int], ...] = ()  # branch: (arm id, value) so paired constexprs keep their pairs
    reason: str = ""  # dynamic: why the value cannot be known

    @property
    def known(self) -> bool:
        return self.kind in ("literal", "variable", "default") and len(self.values) == 1


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


def _read_autotune(dec: ast.Call, facts: ModuleFacts, tree: ast.Module) -> AutotuneInfo:
    kw = {k.arg: k.value for k in dec.keywords if k.arg}
    configs_node = kw.get("configs") or (dec.args[0] if dec.args else None)
    key_node = kw.get("key") or (dec.args[1] if len(dec.args) > 1 else None)
    info = AutotuneInfo(decorator=dec, configs_node=configs_node or dec)
    if isinstance(key_node, ast.List | ast.Tuple):
        info.key = [e.value for e in key_node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    node = configs_node
    if isinstance(node, ast.Name):  # configs=CONFIGS defined once at module level
        assigns = [s.value for s in tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
                   and isinstance(s.targets[0], ast.Name) and s.targets[0].id == node.id]
        node = assigns[0] if len(assigns) == 1 else None
    if not isinstance(node, ast.List | ast.Tuple):
        info.problem = f"autotune configs at line {dec.lineno} are built at run time, not a literal list"
        return info
    for elt in node.elts:
        if not (isinstance(elt, ast.Call) and facts.resolve(elt.func) in CONFIG_NAMES):
            info.problem = f"autotune config at line {elt.lineno} is not a triton.Config(...) call"
            return info
        meta_node = elt.args[0] if elt.args else next((k.value for k in elt.keywords if k.arg == "kwargs"), None)
        if not isinstance(meta_node, ast.Dict):
            info.problem = f"triton.Config at line {elt.lineno}: its kwargs are not a literal dict"
            return info
        meta: dict[str, int] = {}
        for k, v in zip(meta_node.keys, meta_node.values, strict=True):
            iv = const_int(v)
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)) or iv is None:
                info.problem = f"triton.Config at line {elt.lineno}: a meta value is not an int literal"
                return info
            meta[k.value] = iv
        opts = {"num_warps": DEFAULT_NUM_WARPS, "num_stages": DEFAULT_NUM_STAGES}
        for pos, arg in zip(("num_warps", "num_stages"), elt.args[1:3], strict=False):
            opts[pos] = const_int(arg) if const_int(arg) is not None else -1
        for k in elt.keywords:
            if k.arg == "kwargs":
                continue
            if k.arg not in CONFIG_FIELDS:
                info.problem = (f"triton.Config at line {elt.lineno} sets {k.arg}, which the tuner does not "
                                "carry over")
                return info
            opts[k.arg] = const_int(k.value) if const_int(k.value) is not None else -1
        if len(elt.args) > 3 or min(opts.values()) < 1:
            info.problem = f"triton.Config at line {elt.lineno}: num_warps/num_stages are not int literals"
            return info
        info.configs.append(LaunchConfig.make(opts["num_warps"], opts["num_stages"], meta))
    return info


def _read_heuristics(dec: ast.Call) -> tuple[set[str], str]:
    arg = dec.args[0] if dec.args else next((k.value for k in dec.keywords if k.arg == "values"), None)
    if not isinstance(arg, ast.Dict):
        return set(), f"@triton.heuristics at line {dec.lineno} takes a dict built at run time"
    names = {k.value for k in arg.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return names, ""


def _kernel_info(fn: ast.FunctionDef, facts: ModuleFacts, tree: ast.Module) -> KernelInfo:
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
    info.size_params = [p for p in params if p not in constexprs and p in compared]
    info.in_place = sorted((loaded & stored & set(params)) - {""})
    for dec in fn.decorator_list:
        if not isinstance(dec, ast.Call):
            continue
        dotted = facts.resolve(dec.func) or ""
        if dotted in AUTOTUNE_NAMES:
            info.autotune = _read_autotune(dec, facts, tree)
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
    """A binding whose value is not a plain expression: augmented assignment, loop target, walrus, with-as."""
    if isinstance(node, ast.AugAssign | ast.NamedExpr):
        return isinstance(node.target, ast.Name) and node.target.id == name
    if isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
        return name in _names_in([node.target])
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return name in _names_in([node.optional_vars])
    return False


def _binding_nodes(name: str, scope: ast.AST) -> list[tuple[ast.AST, ast.expr | None]]:
    """Every statement binding `name` in scope (not inside nested functions), with the value bound if simple."""
    out: list[tuple[ast.AST, ast.expr | None]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue
            if isinstance(child, ast.Assign):
                for t in child.targets:
                    if isinstance(t, ast.Name) and t.id == name:
                        out.append((child, child.value))
                    elif isinstance(t, ast.Tuple) and any(isinstance(e, ast.Name) and e.id == name for e in t.elts):
                        vals = child.value.elts if isinstance(child.value, ast.Tuple) and \
                            len(child.value.elts) == len(t.elts) else None
                        idx = next(i for i, e in enumerate(t.elts) if isinstance(e, ast.Name) and e.id == name)
                        out.append((child, vals[idx] if vals else None))
            elif isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name) and child.target.id == name:
                out.append((child, child.value))
            elif _rebinds(child, name):
                out.append((child, None))
            visit(child)

    visit(scope)
    return out


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


def resolve_setting(expr: ast.expr, function: ast.FunctionDef | None, tree: ast.Module,
                    parents: dict[ast.AST, ast.AST]) -> Setting:
    """How the expression passed for a launch setting gets its value."""
    lit = const_int(expr)
    if lit is not None:
        return Setting("literal", (lit,))
    if not isinstance(expr, ast.Name):
        return Setting("dynamic", reason=f"`{ast.unparse(expr)}` is computed at run time")
    name = expr.id
    if function is not None:
        fargs = function.args
        if name in {a.arg for a in [*fargs.posonlyargs, *fargs.args, *fargs.kwonlyargs]}:
            return Setting("dynamic", variable=name, reason=f"`{name}` is a parameter of {function.name}()")
        bindings = _binding_nodes(name, function)
        scope: ast.AST = function
    else:
        bindings = []
        scope = tree
    if not bindings:
        bindings = [(s, s.value) for s in tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0], ast.Name) and s.targets[0].id == name]
        scope = tree
    if not bindings:
        return Setting("dynamic", variable=name, reason=f"`{name}` is not assigned in this file")
    values: list[tuple[str, int]] = []
    for stmt, value in bindings:
        v = const_int(value)
        if v is None:
            shown = ast.unparse(value) if value is not None else "a loop, augmented assignment or unpacking"
            return Setting("dynamic", variable=name,
                           reason=f"`{name}` is computed at run time (line {stmt.lineno}: {shown})")
        if _inside_loop(stmt, scope, parents):
            return Setting("dynamic", variable=name, reason=f"`{name}` is assigned inside a loop "
                           f"(line {stmt.lineno})")
        values.append((".".join(_arm_path(stmt, scope, parents)) or "top", v))
    arms = {a for a, _ in values}
    if len(values) == 1:
        return Setting("variable", (values[0][1],), variable=name)
    if len(arms) != len(values) or "top" in arms:
        return Setting("dynamic", variable=name, reason=f"`{name}` is reassigned ({len(values)} assignments on "
                       "one path)")
    return Setting("branch", tuple(sorted({v for _, v in values})), variable=name, arms=tuple(values))


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


def _site(kernel: KernelInfo, call: ast.Call, grid: ast.expr, tree: ast.Module,
          parents: dict[ast.AST, ast.AST]) -> tuple[LaunchSite | None, str]:
    if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None, f"launch of {kernel.name} at line {call.lineno} passes *args/**kwargs"
    if len(call.args) > len(kernel.params):
        return None, f"launch of {kernel.name} at line {call.lineno} passes more arguments than it has parameters"
    function = _enclosing_function(call, parents)
    positional = kernel.params[:len(call.args)]
    bound: dict[str, ast.expr] = dict(zip(positional, call.args, strict=True))
    keywords = {k.arg: k for k in call.keywords if k.arg}
    bound.update({n: k.value for n, k in keywords.items() if n in kernel.params})
    site = LaunchSite(kernel=kernel.name, call=call, grid=grid, function=function, bound=bound,
                      positional=positional, keywords=keywords, loop_bound=_loop_bound_names(call, parents))
    for opt, default in (("num_warps", DEFAULT_NUM_WARPS), ("num_stages", DEFAULT_NUM_STAGES)):
        site.settings[opt] = (resolve_setting(keywords[opt].value, function, tree, parents) if opt in keywords
                              else Setting("default", (default,)))
    for c in kernel.constexprs:
        if c in bound:
            site.settings[c] = resolve_setting(bound[c], function, tree, parents)
        elif c in kernel.defaults and const_int(kernel.defaults[c]) is not None:
            site.settings[c] = Setting("default", (const_int(kernel.defaults[c]),))
        else:
            site.settings[c] = Setting("missing", reason=f"{c} is not passed at the launch")
    return site, ""


def _kernel_uses(analysis_tree: ast.Module, kernels: dict[str, KernelInfo], facts: ModuleFacts,
                 parents: dict[ast.AST, ast.AST]) -> None:
    """Attach launch sites; refuse kernels used in any other way (passed around as values)."""
    for node in ast.walk(analysis_tree):
        if not (isinstance(node, ast.Name) and node.id in kernels and isinstance(node.ctx, ast.Load)):
            continue
        k = kernels[node.id]
        sub = parents.get(node)
        call = parents.get(sub) if sub is not None else None
        if isinstance(sub, ast.Subscript) and sub.value is node and isinstance(call, ast.Call) and call.func is sub:
            site, problem = _site(k, call, sub.slice, analysis_tree, parents)
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
                s.variable == n for s in site.settings.values()))
            if changing:
                k.refusal = (f"launch of {k.name} at line {site.line} is inside a loop that rebinds "
                             f"{', '.join(changing)}: its launch settings change between iterations")
                break


def analyse(source: str) -> Analysis:
    """Facts about every @triton.jit kernel and its launches. Raises SyntaxError for unparsable source."""
    tree = ast.parse(source)
    facts = module_facts(tree)
    parents = _parents(tree)
    kernels = {name: _kernel_info(fn, facts, tree) for name, fn in facts.kernels.items()}
    _kernel_uses(tree, kernels, facts, parents)
    triton_name = next((local for local, dotted in facts.aliases.items() if dotted == "triton"), None)
    return Analysis(source=source, tree=tree, facts=facts, kernels=kernels, triton_name=triton_name,
                    parents=parents)
