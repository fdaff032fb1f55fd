"""Write a tuned choice back into the source: frozen launch arguments or a readable `@triton.autotune`.

Every function returns new source that parses, or raises RewriteError with the reason; the caller checks the
result by running it (the evaluator) before anything is emitted.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from tritonwright.tune.analysis import (
    Analysis,
    KernelInfo,
    LaunchSite,
    _ancestors,
    _arm_path,
    _inside_loop,
    is_group_order,
)
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.edits import Edits, GridDoesNotFollow, RewriteError
from tritonwright.tune.neighbourhoods import TUNER_SPECS
from tritonwright.tune.plan import KernelPlan

META = "META"  # the name of the grid lambda's argument when we write one (Triton's docs call it META)


def _args_in_order(call: ast.Call) -> list[ast.AST]:
    return [*call.args, *call.keywords]


def _set_arg(ed: Edits, site: LaunchSite, name: str, value: int) -> None:
    """Pass `name=value` at the launch: replace the value where it is given, else add a keyword."""
    if name in site.keywords:
        ed.replace(site.keywords[name].value, str(value))
    elif name in site.positional:
        ed.replace(site.call.args[site.positional.index(name)], str(value))
    else:
        args = _args_in_order(site.call)
        if not args:
            raise RewriteError(f"launch at line {site.line} has no arguments to add {name} after")
        last_end = max(ed.end(a) for a in args)
        ed.add(last_end, last_end, f", {name}={value}")


def _remove_spread_entries(ed: Edits, site: LaunchSite, names: set[str]) -> None:
    """Rewrite the `**meta` dict literal without the entries the autotuner now owns."""
    node = site.spread
    if isinstance(node, ast.Dict):
        kept = [f"{ed.text(ed.start(k), ed.end(k))}: {ed.text(ed.start(v), ed.end(v))}"
                for k, v in zip(node.keys, node.values, strict=True)
                if k is not None and not (isinstance(k, ast.Constant) and k.value in names)]
        if len(kept) < len(node.keys):
            ed.replace(node, "{" + ", ".join(kept) + "}")
    elif isinstance(node, ast.Call):
        kept = [ed.text(ed.start(k), ed.end(k)) for k in node.keywords if k.arg not in names]
        if len(kept) < len(node.keywords):
            ed.replace(node, f"{ed.text(ed.start(node.func), ed.end(node.func))}({', '.join(kept)})")


def _remove_args(ed: Edits, site: LaunchSite, names: set[str], kernel: KernelInfo) -> None:
    """Drop the arguments the autotuner now owns; later positional arguments become keywords."""
    _remove_spread_entries(ed, site, names)
    args = _args_in_order(site.call)
    removed = set()
    for i in range(len(site.call.args)):
        if site.positional[i] in names:
            removed.add(i)
    for j, k in enumerate(site.call.keywords):
        if k.arg in names:
            removed.add(len(site.call.args) + j)
    if not removed:
        return
    first_removed_pos = min((i for i in removed if i < len(site.call.args)), default=None)
    if first_removed_pos is not None:
        for i in range(first_removed_pos + 1, len(site.call.args)):
            if i not in removed:
                ed.add(ed.start(site.call.args[i]), ed.start(site.call.args[i]), f"{site.positional[i]}=")
    i = 0
    while i < len(args):
        if i not in removed:
            i += 1
            continue
        j = i
        while j + 1 < len(args) and j + 1 in removed:
            j += 1
        if j + 1 < len(args):  # a kept argument follows: cut up to its start
            ed.add(ed.start(args[i]), ed.start(args[j + 1]), "")
        elif i > 0:  # the run ends the call: cut from the end of the kept argument before it
            ed.add(ed.end(args[i - 1]), ed.end(args[j]), "")
        else:
            raise RewriteError(f"launch at line {site.line} would be left with no arguments")
        i = j + 1


def _grid_edit(ed: Edits, analysis: Analysis, site: LaunchSite, names: tuple[str, ...]) -> None:
    """Make the grid a `lambda META` that reads each tuned constexpr, so it follows the BLOCK values. A grid
    written as `def grid(meta): ...` (Triton's tutorials) is kept, and made to read `meta` where it read the
    BLOCK's variable."""
    grid = site.grid
    location: ast.expr = grid
    expr: ast.expr = grid
    if isinstance(grid, ast.Name):
        scope: ast.AST = site.function or analysis.tree
        assigns, defs = _bindings(scope, grid.id, nested=True, parents=analysis.parents)
        if not assigns and not defs and scope is not analysis.tree:  # a grid defined at module level
            scope = analysis.tree
            assigns, defs = _bindings(scope, grid.id, nested=False, parents=analysis.parents)
        uses = [n for n in _own_nodes(scope, analysis.parents) if isinstance(n, ast.Name) and n.id == grid.id
                and isinstance(n.ctx, ast.Load)]
        if defs:
            if assigns:
                raise RewriteError(f"grid `{grid.id}` at line {site.line} is bound {len(defs) + len(assigns)} "
                                   "times (defs and assignments): which one the launch reads is not clear")
            # one `def grid(meta)` per if/else arm (or set again before each launch): the one that reaches it
            fn = defs[0] if len(defs) == 1 else _reaching(defs, site.call, site.line, scope, analysis.parents,
                                                          grid.id)
            readers = [u for u in uses if len(defs) == 1 or _reaches(defs, u, scope, analysis.parents) is fn]
            assert isinstance(fn, ast.FunctionDef)
            _grid_function(ed, analysis, site, names, fn, shared=len(readers) > 1)
            return
        inline = False
        if len(assigns) > 1:  # one grid per if/else arm, or set again before each launch: the one that reaches
            reached = _reaching(assigns, site.call, site.line, scope, analysis.parents, grid.id)
            assert isinstance(reached, ast.Assign)
            assigns = [reached]
            inline = True
        if len(assigns) != 1:
            raise RewriteError(f"grid `{grid.id}` at line {site.line} is not assigned exactly once on the path to "
                               "the launch")
        expr = assigns[0].value
        # shared with another launch (or one of several): write the lambda inline at this launch
        location = expr if len(uses) == 1 and not inline else grid
    if isinstance(expr, ast.Lambda):
        if len(expr.args.args) != 1:
            raise RewriteError(f"grid lambda at line {expr.lineno} does not take exactly one argument")
        meta, body = expr.args.args[0].arg, expr.body
    else:
        meta, body = META, expr
    replacements = _meta_reads(analysis, site, names, meta, body)
    if not replacements and isinstance(expr, ast.Lambda) and location is expr:
        return  # already a lambda that reads META: nothing to write
    ed.replace(location, f"lambda {meta}: {_segment(ed, body, replacements)}")


def _grid_follows_configs(analysis: Analysis, site: LaunchSite, names: tuple[str, ...]) -> None:
    """An autotuned kernel's tile sizes come from its configs, so its grid must read them from META: raises
    GridDoesNotFollow where it plainly does not (a fixed `(triton.cdiv(C, 64),)`). A grid the rewrite cannot
    follow for another reason is left to the full check of every config, as before this check."""
    try:
        _grid_edit(Edits(analysis.source), analysis, site, names)  # edits thrown away: nothing is written
    except GridDoesNotFollow:
        raise
    except RewriteError:
        pass


def _bindings(scope: ast.AST, name: str, nested: bool, parents: dict[ast.AST, ast.AST]
              ) -> tuple[list[ast.Assign], list[ast.FunctionDef]]:
    """The plain assignments `name = ...` and the `def name(...)` in `scope` (its whole body with `nested`, else
    its top-level statements only), leaving out those of functions, lambdas and classes nested in it (a
    helper's own `grid = ...` is another variable)."""
    nodes = _own_nodes(scope, parents) if nested else list(getattr(scope, "body", []))
    assigns = [n for n in nodes if isinstance(n, ast.Assign) and len(n.targets) == 1
               and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name]
    defs = [n for n in nodes if isinstance(n, ast.FunctionDef) and n.name == name and n is not scope]
    return assigns, defs


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def _own_nodes(scope: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[ast.AST]:
    """The nodes of `scope` that belong to it, not to a function, lambda or class nested in it (whose `def`
    or `class` statement itself still does)."""
    out = []
    for node in ast.walk(scope):
        up = parents.get(node)
        while up is not None and up is not scope and not isinstance(up, _SCOPES):
            up = parents.get(up)
        if up is scope or up is None:
            out.append(node)
    return out


def _reaching(assigns: Sequence[ast.stmt], at: ast.AST, line: int, scope: ast.AST,
              parents: dict[ast.AST, ast.AST], name: str) -> ast.stmt:
    """The binding of the grid (an assignment or a `def`) that the launch at `at` (line `line`) reads: the last
    one before it on its if/else path, outside loops; refused when another could still reach the launch (set
    between them, or in a loop around both)."""
    path = _arm_path(at, scope, parents)
    before = [a for a in assigns if a.lineno < line and not _inside_loop(a, scope, parents)
              and path[:len(_arm_path(a, scope, parents))] == _arm_path(a, scope, parents)]
    if not before:
        raise RewriteError(f"grid `{name}` at line {line} is not assigned exactly once on the path to the "
                           "launch")
    chosen = max(before, key=lambda a: a.lineno)
    loops = [a for a in _ancestors(at, parents) if isinstance(a, ast.For | ast.While | ast.AsyncFor)]
    for a in assigns:
        if a is chosen:
            continue
        if chosen.lineno < a.lineno < line:
            raise RewriteError(f"grid `{name}` is set at line {chosen.lineno} and again at line {a.lineno} (a "
                               f"branch) before the launch at line {line}: which one it reads is not known")
        if any(loop in set(_ancestors(a, parents)) for loop in loops):
            raise RewriteError(f"grid `{name}` is set at line {a.lineno} inside a loop around the launch at line "
                               f"{line}: it can change between iterations")
    return chosen


def _reaches(bindings: Sequence[ast.stmt], use: ast.expr, scope: ast.AST, parents: dict[ast.AST, ast.AST]
             ) -> ast.stmt | None:
    """The binding a read of the grid's name reaches, or None where that is not known."""
    try:
        return _reaching(bindings, use, use.lineno, scope, parents, "")
    except RewriteError:
        return None


def _grid_function(ed: Edits, analysis: Analysis, site: LaunchSite, names: tuple[str, ...], fn: ast.FunctionDef,
                   shared: bool) -> None:
    """A `def grid(meta)` grid: it must read each tuned constexpr from `meta`, or read its variable, which is then
    changed to a `meta` read (only when this launch alone uses it: another launch's meta may not hold the name)."""
    params = [*fn.args.posonlyargs, *fn.args.args]
    if len(params) != 1 or fn.args.vararg or fn.args.kwarg or fn.args.kwonlyargs or fn.decorator_list:
        raise RewriteError(f"grid function `{fn.name}` at line {fn.lineno} does not take exactly one argument")
    replacements = _meta_reads(analysis, site, names, params[0].arg, fn)
    if replacements and shared:
        raise RewriteError(f"grid function `{fn.name}` at line {fn.lineno} reads "
                           f"{', '.join(sorted({ast.unparse(n) for n, _ in replacements}))} and serves several "
                           "launches: it cannot be made to follow this one's tile sizes alone")
    for node, text in replacements:
        ed.replace(node, text)


def _meta_reads(analysis: Analysis, site: LaunchSite, names: tuple[str, ...], meta: str, body: ast.AST
                ) -> list[tuple[ast.AST, str]]:
    """For each tuned constexpr, the grid `body` must read `meta[name]` or the variable the launch passes for it
    (those reads become `meta["name"]`); a loop's step and a matmul's tile order need neither. Raises
    GridDoesNotFollow otherwise."""
    replacements: list[tuple[ast.AST, str]] = []
    for n in names:
        setting = site.settings[n]
        reads_meta = any(isinstance(s, ast.Subscript) and isinstance(s.value, ast.Name) and s.value.id == meta
                         and isinstance(s.slice, ast.Constant) and s.slice.value == n for s in ast.walk(body))
        var_uses = [s for s in ast.walk(body) if isinstance(s, ast.Name) and setting.variable
                    and s.id == setting.variable and isinstance(s.ctx, ast.Load)]
        if not reads_meta and not var_uses:
            if n in loop_steps(analysis.kernels[site.kernel]) or is_group_order(n):
                continue  # a loop's step (BLOCK_K) or the tiles' order (GROUP_M): the program count stays
            raise GridDoesNotFollow(f"the grid at line {site.line} does not follow {n} (neither {meta}['{n}'] nor "
                                    f"its variable): changing {n} would skip or repeat elements", n)
        replacements += [(s, f'{meta}["{n}"]') for s in var_uses]
    return replacements


def loop_steps(kernel: KernelInfo) -> set[str]:
    """Constexprs read in the header of a `for` loop of the kernel (`range(0, K, BLOCK_K)`,
    `tl.cdiv(K, BLOCK_K)`), or in a `while` loop's test or the step of a name it tests (`k += BLOCK_K`): they set
    how far each program loops, not how many programs there are."""
    out: set[str] = set()
    consts = set(kernel.constexprs)

    def names(node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in consts}

    for node in ast.walk(kernel.node):
        if isinstance(node, ast.For | ast.AsyncFor):
            out |= names(node.iter)
        elif isinstance(node, ast.While):  # `while k < K: ... k += BLOCK_K`: the test, and the steps of its names
            tested = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            out |= names(node.test)
            out |= {n for a in ast.walk(node) if isinstance(a, ast.AugAssign) and isinstance(a.target, ast.Name)
                    and a.target.id in tested for n in names(a.value)}
    return out


def _segment(ed: Edits, node: ast.AST, replacements: list[tuple[ast.AST, str]]) -> str:
    """The source text of `node` with some of its sub-expressions replaced."""
    lo, hi = ed.start(node), ed.end(node)
    out = ed.data[lo:hi]
    for sub, text in sorted(replacements, key=lambda r: ed.start(r[0]), reverse=True):
        a, b = ed.start(sub) - lo, ed.end(sub) - lo
        out = out[:a] + text.encode() + out[b:]
    return out.decode()


def _check(source: str, what: str) -> str:
    try:
        ast.parse(source)
    except SyntaxError as exc:  # our own edit broke the file: refuse rather than emit it
        raise RewriteError(f"{what} produced code that does not parse (line {exc.lineno}: {exc.msg})") from None
    return source


def _fields(plan: KernelPlan, mode: str) -> tuple[bool, bool, bool]:
    """Which parts of a config a rewrite writes: (num_warps, num_stages, meta)."""
    if plan.autotuned or mode == "autotune":
        return True, True, True  # the decorator held all of them (or will)
    spec = TUNER_SPECS[plan.stage]
    return spec.warps, spec.stages, spec.blocks


def _delete_decorator(ed: Edits, dec: ast.expr) -> None:
    start = ed.line_start(dec)
    end = ed.line_starts[dec.end_lineno or dec.lineno]  # parsed nodes always have end_lineno
    ed.add(start, end, "")


def freeze(analysis: Analysis, plans: list[KernelPlan], choice: dict[str, LaunchConfig]) -> str:
    """The source with each chosen kernel launched at exactly one config (no autotuning at run time)."""
    ed = Edits(analysis.source)
    for plan in plans:
        if plan.kernel in choice:
            _freeze_plan(ed, analysis, plan, choice[plan.kernel])
    return _check(ed.apply(), "freezing")


def _freeze_plan(ed: Edits, analysis: Analysis, plan: KernelPlan, c: LaunchConfig) -> None:
    k = analysis.kernels[plan.kernel]
    warps, stages, meta = _fields(plan, "freeze")
    if plan.autotuned and k.autotune is not None:
        _delete_decorator(ed, k.autotune.decorator)
    for site in k.sites:
        if meta:  # constexprs first, launch options last, as people write launches
            for name, value in c.meta:
                _set_arg(ed, site, name, value)
        # a computed num_warps (`BLOCK // 32`) may read a value the tuner changed: the tuner owns it now
        if warps or site.settings["num_warps"].computed:
            _set_arg(ed, site, "num_warps", c.num_warps)
        if stages or site.settings["num_stages"].computed:
            _set_arg(ed, site, "num_stages", c.num_stages)
        if (not plan.autotuned or plan.blocks_at_launch) and TUNER_SPECS[plan.stage].blocks:
            _grid_edit(ed, analysis, site, plan.block_names)
        elif plan.autotuned and plan.block_names:
            _grid_follows_configs(analysis, site, plan.block_names)


def configs_text(configs: list[LaunchConfig], indent: str, triton_name: str,
                 notes: dict[LaunchConfig, str] | None = None) -> str:
    lines = ["["]
    for c in configs:
        note = (notes or {}).get(c)
        lines.append(f"{indent}    {c.config_call(triton_name)},{f'  # {note}' if note else ''}")
    lines.append(f"{indent}]")
    return "\n".join(lines)


def autotune(analysis: Analysis, plans: list[KernelPlan], configs: dict[str, list[LaunchConfig]],
             notes: dict[LaunchConfig, str] | None = None, frozen: dict[str, LaunchConfig] | None = None) -> str:
    """The source with `@triton.autotune(configs=[...], key=[...])` over each tuned kernel. A kernel an autotune
    list would be unsafe for (KernelPlan.autotune_problem: atomics, in-place stores) is launched at its config
    in `frozen` instead, and refused when it has none there."""
    if analysis.triton_name is None:
        raise RewriteError("the file does not `import triton`, so there is no name to write triton.autotune with")
    tn = analysis.triton_name
    ed = Edits(analysis.source)
    for plan in plans:
        if plan.autotune_problem and frozen and plan.kernel in frozen:
            _freeze_plan(ed, analysis, plan, frozen[plan.kernel])
            continue
        if plan.kernel not in configs:
            continue
        if plan.autotune_problem:
            raise RewriteError(f"{plan.autotune_problem}; it needs one config to launch at (use --freeze)")
        k, cs = analysis.kernels[plan.kernel], configs[plan.kernel]
        if plan.autotuned and k.autotune is not None:
            node = k.autotune.configs_node
            ed.replace(node, configs_text(cs, ed.indent_of(k.autotune.decorator), tn, notes))
            for site in k.sites:
                if plan.blocks_at_launch:  # the configs set the tile sizes now: the launch may not pass them too,
                    _remove_args(ed, site, set(plan.block_names), k)
                    _grid_edit(ed, analysis, site, plan.block_names)  # and the grid reads them from META
                elif plan.block_names:
                    _grid_follows_configs(analysis, site, plan.block_names)
            continue
        indent = ed.indent_of(k.top_decorator)
        key = ", ".join(f'"{n}"' for n in plan.key)
        text = (f"{indent}@{tn}.autotune(\n{indent}    configs="
                f"{configs_text(cs, indent + '    ', tn, notes)},\n{indent}    key=[{key}],\n{indent})\n")
        pos = ed.line_start(k.top_decorator)
        ed.add(pos, pos, text)
        owned = {"num_warps", "num_stages", *plan.block_names}
        for site in k.sites:
            _remove_args(ed, site, owned, k)
            if TUNER_SPECS[plan.stage].blocks:
                _grid_edit(ed, analysis, site, plan.block_names)
    return _check(ed.apply(), "writing @triton.autotune")
