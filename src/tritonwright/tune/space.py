"""The launch space the tuner searches, per kernel kind, as data: every axis carries its values and the reason.

The search (tune/search.py) walks it in phases: a coarse grid over tile sizes and warps, a sweep of pipeline
depths where the kernel has a loop to pipeline, then local refinement one step along each axis.
"""

from __future__ import annotations

import ast
import itertools
import math
from dataclasses import dataclass, field

from tritonwright.tune.analysis import is_group_order
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.neighbourhoods import TUNER_SPECS, Bound, GpuLimits, StageSpec, block_bounds, violated
from tritonwright.tune.plan import KernelPlan

ELEMENTWISE, LOOP, DOT = "elementwise", "loop", "dot"

LAUNCH_STAGE = "launch"  # the stage the tuner serves when no LLM runs: every launch axis at once, once

WARPS_ALL = (1, 2, 4, 8, 16, 32)  # every legal num_warps: 32 warps is the 1024-thread block limit
WARPS_COARSE = (2, 4, 8, 16)  # first grid: 1 warp rarely hides latency, 32 rarely beats 16; refinement reaches both
DOT_WARPS = (2, 4, 8, 16)  # tl.dot tiles map to 4-warp groups on Hopper; 1 warp cannot issue them well
DOT_WARPS_COARSE = (4, 8)  # what fast matmul configs use almost always; refinement tries 2 and 16
LOOP_STAGES = (1, 2, 3, 4, 5)  # pipelining depth of a loop's loads; more stages rarely fit or pay
DOT_STAGES = (2, 3, 4, 5, 6)  # matmul loops gain from deeper pipelines; shared memory bounds cut the deep ones
BLOCK_SPAN = 16  # 1-D tiles from 1/16x to 16x the original: wider than any useful move, cheap to bound
BLOCK_COARSE_STEP = 4  # coarse grid moves by 4x per step; refinement fills the 2x steps in between
DOT_TILE_MAX = 256  # a tl.dot tile side beyond 256 exceeds the registers of one program on current GPUs
DOT_TILE_COARSE = (64, 128, 256)  # the M/N tile sizes fast fp16/fp32 matmuls use
DOT_K_COARSE = (32, 64)  # the K step of those matmuls; refinement reaches 16 and 128
DOT_ACC_PER_THREAD = 128  # fp32 accumulators per thread: beyond this the 255-register budget spills
DOT_OPERAND_BYTES = 2  # fp16/bf16 operands, the usual tl.dot inputs; fp32 configs that overflow fail to compile
GROUP_ORDER_VALUES = (1, 2, 4, 8, 16, 32)  # 1: row-major tile order; the tutorial's 8 sits in the middle
MAX_COARSE = 32  # first-grid cap: its configs are compiled one by one (~0.5-2 s each on a GPU)


@dataclass(frozen=True)
class Axis:
    name: str  # num_warps | num_stages | a constexpr name
    values: tuple[int, ...]  # every value the search may visit, ascending
    coarse: tuple[int, ...]  # the values of the first grid
    reason: str


@dataclass(frozen=True)
class Space:
    kernel: str
    kind: str  # elementwise | loop | dot
    axes: tuple[Axis, ...]
    bounds: tuple[Bound, ...]
    block_names: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    def axis(self, name: str) -> Axis | None:
        return next((a for a in self.axes if a.name == name), None)

    smem_bytes: int = 232448  # the GPU's opt-in shared memory per block (GpuLimits.max_smem_per_block)

    def why_invalid(self, c: LaunchConfig) -> str | None:
        """The bound a config breaks (tile elements, shared memory, ...), or None."""
        if self.kind == DOT:
            return _dot_invalid(c, self.block_names, self.smem_bytes)
        return violated(c, list(self.block_names), self.bounds) if self.bounds else None


def is_k_step(name: str) -> bool:
    """BLOCK_K / BLOCK_SIZE_K: the reduction step of a tl.dot loop, not a side of the output tile."""
    return name.upper().endswith("K")


def _dot_invalid(c: LaunchConfig, block_names: tuple[str, ...], smem_bytes: int) -> str | None:
    meta = {n: v for n, v in c.meta_dict.items() if not is_group_order(n)}  # an ordering, not a tile side
    out_tile = math.prod(meta[n] for n in block_names if n in meta and not is_k_step(n))
    k = math.prod(meta[n] for n in block_names if n in meta and is_k_step(n))
    per_thread = out_tile / (c.num_warps * 32)
    if per_thread > DOT_ACC_PER_THREAD:
        return (f"output tile {out_tile} elements over {c.num_warps} warps is {per_thread:g} accumulators per "
                f"thread (> {DOT_ACC_PER_THREAD}): a thread has 255 registers")
    sides = [meta[n] for n in block_names if n in meta and not is_k_step(n)]
    if len(sides) == 2 and k > 1:
        need = (sides[0] + sides[1]) * k * DOT_OPERAND_BYTES * c.num_stages
        if need > smem_bytes:
            return (f"operand tiles {need} B in shared memory over {c.num_stages} stages (> {smem_bytes} B; "
                    f"{DOT_OPERAND_BYTES}-byte inputs)")
    return None


def spec_for(stage: str) -> StageSpec:
    return TUNER_SPECS[stage]


def kernel_kind(node: ast.FunctionDef, uses_dot: bool) -> str:
    """dot: it calls tl.dot; loop: it has a for/while loop (loads to pipeline); else elementwise."""
    if uses_dot:
        return DOT
    if any(isinstance(n, ast.For | ast.While) for n in ast.walk(node)):
        return LOOP
    return ELEMENTWISE


def _value(c: LaunchConfig, name: str) -> int | None:
    if name == "num_warps":
        return c.num_warps
    if name == "num_stages":
        return c.num_stages
    return c.meta_dict.get(name)


def _with(c: LaunchConfig, name: str, v: int) -> LaunchConfig:
    if name == "num_warps":
        return c.replace(num_warps=v)
    if name == "num_stages":
        return c.replace(num_stages=v)
    return c.replace(meta={name: v})


def _pow2_range(lo: int, hi: int) -> list[int]:
    out, v = [], 1
    while v <= hi:
        if v >= lo:
            out.append(v)
        v *= 2
    return out


def _block_axis(name: str, centre: int, kind: str, limits: GpuLimits) -> Axis:
    if is_group_order(name):
        orders = tuple(sorted(set(GROUP_ORDER_VALUES) | {centre}))
        return Axis(name, orders, (centre,), f"{name}: tile rows sharing B's columns in L2, {list(orders)}; "
                                             "refinement only (its effect is second to the tile sizes')")
    if kind == DOT:
        is_k = is_k_step(name)
        values = sorted(set(_pow2_range(16, DOT_TILE_MAX)) | {centre})
        coarse = sorted({v for v in (DOT_K_COARSE if is_k else DOT_TILE_COARSE) if v in values} | {centre})
        return Axis(name, tuple(values), tuple(coarse),
                    f"{name}: tl.dot tiles are powers of two in [16, {DOT_TILE_MAX}]; coarse "
                    f"{'K steps' if is_k else 'M/N tiles'} {coarse}")
    lo, hi = max(1, centre // BLOCK_SPAN), min(centre * BLOCK_SPAN, limits.registers_per_sm)
    values = sorted(set(_pow2_range(lo, hi)) | {centre})
    pivot = 2 ** round(math.log2(centre))  # a centre that is no power of two steps from its nearest one
    coarse = sorted({centre} | {v for v in values if math.log2(v / pivot).is_integer()
                                and int(math.log2(v / pivot)) % round(math.log2(BLOCK_COARSE_STEP)) == 0})
    return Axis(name, tuple(values), tuple(coarse),
                f"{name}: powers of two from 1/{BLOCK_SPAN}x to {BLOCK_SPAN}x the original {centre}, "
                f"first by {BLOCK_COARSE_STEP}x steps")


def build_space(plan: KernelPlan, kind: str, stage: str, limits: GpuLimits) -> Space:
    """The axes `stage` varies for one kernel, centred on its first original config."""
    spec = spec_for(stage)
    centre = plan.centres[0]
    axes: list[Axis] = []
    notes: list[str] = []
    blocks = list(plan.block_names) if spec.blocks else []
    for name in blocks:
        v = centre.meta_dict.get(name)
        if v is not None and v >= 1:
            axes.append(_block_axis(name, v, kind, limits))
    if spec.warps:
        if kind == DOT:
            axes.append(Axis("num_warps", DOT_WARPS, DOT_WARPS_COARSE, "tl.dot kernels: 2-16 warps, 4 and 8 first"))
        else:
            axes.append(Axis("num_warps", WARPS_ALL, WARPS_COARSE, "every legal num_warps; 2-16 first"))
    if spec.stages:
        if kind == ELEMENTWISE:
            notes.append(f"{plan.kernel} has no loop: num_stages pipelines loop loads, so it is left as it is")
        else:
            values = DOT_STAGES if kind == DOT else LOOP_STAGES
            axes.append(Axis("num_stages", values, values,
                             "pipeline depth of the loop's loads" + (" (shared memory bounds the deep ones)"
                                                                    if kind == DOT else "")))
    bounds = block_bounds(limits, kind == DOT) if blocks else ()
    return Space(plan.kernel, kind, tuple(axes), bounds, tuple(blocks), tuple(notes), limits.max_smem_per_block)


def coarse_grid(space: Space, centres: list[LaunchConfig], cap: int = MAX_COARSE
                ) -> tuple[list[LaunchConfig], list[tuple[LaunchConfig, str]]]:
    """Centres first, then the product of every axis's coarse values except num_stages (swept later, around
    the best), nearest to the first centre first, up to `cap`. Returns (configs, dropped with the bound)."""
    base = centres[0]
    grid_axes = [a for a in space.axes if a.name != "num_stages"]
    out = list(dict.fromkeys(centres))
    dropped: list[tuple[LaunchConfig, str]] = []
    combos = []
    for values in itertools.product(*(a.coarse for a in grid_axes)):
        c = base
        for a, v in zip(grid_axes, values, strict=True):
            c = _with(c, a.name, v)
        combos.append(c)
    combos.sort(key=lambda c: _distance(space, base, c))
    for c in combos:
        if c in out:
            continue
        why = space.why_invalid(c)
        if why:
            dropped.append((c, why))
        elif len(out) < cap:
            out.append(c)
        else:
            dropped.append((c, f"over the first grid's cap of {cap} configs (MAX_COARSE)"))
    return out, dropped


def _distance(space: Space, a: LaunchConfig, b: LaunchConfig) -> float:
    """Steps apart along the axes (log2 for sizes): how far a config moves from the original."""
    d = 0.0
    for axis in space.axes:
        va, vb = _value(a, axis.name), _value(b, axis.name)
        if va is None or vb is None:
            continue
        d += abs(math.log2(vb / va)) if axis.name != "num_stages" else abs(vb - va)
    return d


def stage_sweep(space: Space, tops: list[LaunchConfig]) -> list[LaunchConfig]:
    """Every pipeline depth for each of the best configs (empty when the kernel has no loop)."""
    axis = space.axis("num_stages")
    if axis is None:
        return []
    return [c.replace(num_stages=s) for c in tops for s in axis.values if s != c.num_stages]


def neighbours(space: Space, c: LaunchConfig) -> list[LaunchConfig]:
    """One step along each axis (the next smaller and larger allowed value)."""
    out = []
    for axis in space.axes:
        v = _value(c, axis.name)
        if v is None:
            continue
        ordered = sorted(set(axis.values) | {v})
        i = ordered.index(v)
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered) and ordered[j] in axis.values:
                out.append(_with(c, axis.name, ordered[j]))
    return out


def describe(space: Space) -> str:
    axes = "; ".join(f"{a.name} {list(a.values)}" for a in space.axes)
    return f"{space.kernel} ({space.kind}): {axes or 'nothing to vary'}"
