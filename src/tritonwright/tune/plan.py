"""What a stage may tune in each kernel: the original configs (centres), the constexprs it varies, or a refusal."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from tritonwright.tune.analysis import Analysis, KernelInfo, LaunchSite, Setting
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.neighbourhoods import TUNER_SPECS


@dataclass(frozen=True)
class KernelPlan:
    kernel: str
    stage: str
    centres: tuple[LaunchConfig, ...]  # the configs the original code runs (several: autotune list or branch)
    block_names: tuple[str, ...]  # constexprs this stage varies (block_tiling) or the autotune configs set
    autotuned: bool  # the kernel already has @triton.autotune
    key: tuple[str, ...]  # autotune key: existing one, or the size parameters
    uses_dot: bool
    autotune_problem: str = ""  # why an @triton.autotune output would be unsafe ("" when it is safe)
    notes: tuple[str, ...] = ()
    # autotuned, its configs setting only warps and stages while the launch passes the tile sizes: the tile
    # sizes move into the configs (removed from the launch, the grid made to follow them)
    blocks_at_launch: bool = False


@dataclass
class TunePlan:
    stage: str
    kernels: list[KernelPlan] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (kernel, reason)


def _same_settings(sites: list[LaunchSite], names: list[str]) -> str:
    first = sites[0]
    for other in sites[1:]:
        for n in names:
            a, b = first.settings.get(n), other.settings.get(n)
            if a is None or b is None or (a.kind, a.values, a.variable) != (b.kind, b.values, b.variable):
                return (f"launched at lines {first.line} and {other.line} with different {n}: one autotune "
                        "decorator would change both")
    return ""


def _known(setting: Setting, what: str, branch_ok: bool = False) -> str:
    if setting.known or (branch_ok and setting.kind == "branch"):
        return ""
    if setting.kind == "branch":
        return f"{what} is chosen by a branch on sizes ({setting.variable or ', '.join(setting.depends)}); the " \
            "tuner needs one value"
    return f"{what}: {setting.reason or 'not known before run time'}"


def _branch_centres(site: LaunchSite, names: list[str]) -> list[LaunchConfig] | str:
    """One centre per if/else arm, pairing values assigned in the same arm (BLOCK_SIZE with VECTORIZE, and
    num_warps computed from BLOCK_SIZE); the refusal when an arm's values are no valid config."""
    every = [*names, "num_warps", "num_stages"]
    arms: dict[str, dict[str, int]] = {}
    fixed: dict[str, int] = {}
    for n in every:
        s = site.settings[n]
        if s.kind == "branch":
            for arm, v in s.arms:
                arms.setdefault(arm, {})[n] = v
        else:
            fixed[n] = s.values[0]
    out: list[LaunchConfig] = []
    for values in arms.values() if arms else [{}]:
        if set(values) | set(fixed) != set(every):  # two branches that do not nest the same way: no pairing
            continue
        merged = {**fixed, **values}
        warps, stages = merged.pop("num_warps"), merged.pop("num_stages")
        try:
            c = LaunchConfig.make(warps, stages, merged)
        except ValueError as exc:  # e.g. num_warps=BLOCK // 32 giving 64: Triton would refuse the launch too
            return f"launch at line {site.line}: {exc}"
        if c not in out:
            out.append(c)
    return out


def _autotune_problem(k: KernelInfo) -> str:
    """Why an autotune list would be unsafe for `k` ("" when it is safe): a timed search then launches it at
    its winner (rewrite.autotune's `frozen`); an untimed one (--dry-run) cannot pick one and leaves it."""
    if k.uses_atomics:
        return (f"{k.name} uses atomics: the autotuner reruns it on the same buffers while benchmarking, so "
                "results would accumulate")
    if k.in_place:
        return (f"{k.name} stores to a pointer it also loads ({', '.join(k.in_place)}): autotune benchmarking "
                "would apply it several times")
    return ""


def _blocks_passed_at_launch(k: KernelInfo, metas: list[set[str]]) -> dict[str, int]:
    """The tile sizes every launch of an autotuned `k` passes as one known value (a literal or a constant
    variable) while no autotune config sets any tile size; {} when that is not the case."""
    names = [n for n in k.block_like if n not in k.heuristics]
    if not names or any(n in m for n in k.block_like for m in metas) or _same_settings(k.sites, names):
        return {}
    out: dict[str, int] = {}
    for n in names:
        s = k.sites[0].settings.get(n)
        if s is None or s.kind not in ("literal", "variable") or not s.known:
            return {}
        out[n] = s.values[0]
    return out


def plan_kernel(k: KernelInfo, stage: str) -> KernelPlan | str:
    """The plan for one kernel, or the reason it is left unchanged."""
    spec = TUNER_SPECS[stage]
    if k.refusal:
        return k.refusal
    if not k.sites:
        return f"{k.name} is never launched in this file"
    owned = sorted(k.heuristics & {"num_warps", "num_stages"})
    if owned and (spec.warps or spec.stages):
        return f"@triton.heuristics computes {', '.join(owned)} for {k.name}; the tuner leaves it to them"
    notes: list[str] = []
    if k.autotune is not None:
        configs = list(k.autotune.configs)
        key = tuple(k.autotune.key)
        metas = [set(c.meta_dict) for c in configs]
        in_all = [n for n in k.block_like if all(n in m for m in metas) and n not in k.heuristics]
        at_launch: dict[str, int] = {}
        if spec.blocks and not in_all:
            at_launch = _blocks_passed_at_launch(k, metas)
            if not at_launch:
                return f"{k.name}: no BLOCK constexpr is set by every autotune config"
            configs = [LaunchConfig.make(c.num_warps, c.num_stages, {**c.meta_dict, **at_launch}) for c in configs]
            in_all = list(at_launch)
            notes.append(f"{', '.join(in_all)} passed at the launch while the autotune configs set warps and "
                         "stages: the tuner moves them into the configs")
        return KernelPlan(k.name, stage, tuple(configs), tuple(in_all), True, key, k.uses_dot,
                          _autotune_problem(k), tuple(notes), blocks_at_launch=bool(at_launch))
    sites = k.sites
    problem = _same_settings(sites, ["num_warps", "num_stages", *k.constexprs])
    if problem:
        return problem
    site = sites[0]
    for opt in ("num_warps", "num_stages"):
        problem = _known(site.settings[opt], f"{opt} at line {site.line}", branch_ok=True)
        if problem:
            return problem
        if site.settings[opt].computed:
            notes.append(f"{opt} is computed at the launch (`{ast.unparse(site.keywords[opt].value)}` = "
                         f"{'/'.join(map(str, site.settings[opt].values))}): the tuner writes its own value")
    blocks: list[str] = []
    if spec.blocks:
        for n in k.block_like:
            s = site.settings[n]
            if n in k.heuristics:
                notes.append(f"{n} is computed by @triton.heuristics: left to it")
            elif s.kind in ("literal", "variable", "default", "branch"):
                blocks.append(n)
            else:
                notes.append(f"{n} left alone: {s.reason or s.kind}")
        if not blocks:
            return f"{k.name}: no BLOCK constexpr whose value is known before run time ({'; '.join(notes)})"
    centres = _branch_centres(site, blocks)
    if isinstance(centres, str):
        return centres
    if not centres:
        return f"{k.name}: BLOCK constexprs are set in branches that cannot be paired arm by arm"
    if len(centres) > 1:
        branched = [n for n in [*blocks, "num_warps", "num_stages"] if site.settings[n].kind == "branch"]
        notes.append(f"{', '.join(branched)} come from a branch on sizes: each arm's values is an original config")
    return KernelPlan(k.name, stage, tuple(centres), tuple(blocks), False, tuple(k.size_params), k.uses_dot,
                      _autotune_problem(k), tuple(notes))


def make_plan(analysis: Analysis, stage: str) -> TunePlan:
    if stage not in TUNER_SPECS:
        raise ValueError(f"unknown stage {stage!r}; one of {', '.join(TUNER_SPECS)}")
    plan = TunePlan(stage)
    for k in analysis.kernels.values():
        result = plan_kernel(k, stage)
        if isinstance(result, str):
            plan.skipped.append((k.name, result))
        else:
            plan.kernels.append(result)
    return plan
