"""Which configs each tuning stage tries, as data: every bound carries the one-line reason it exists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tritonwright.gpus.spec import GpuSpec
from tritonwright.tune.configs import LaunchConfig


@dataclass(frozen=True)
class Bound:
    """One limit on a launch setting and why it is there."""

    name: str
    values: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class GpuLimits:
    """The GPU figures block_tiling needs; callers pass the spec table's values, these defaults are an H100's."""

    name: str = "H100 (default)"
    registers_per_sm: int = 65536  # 64K 32-bit registers per SM on every NVIDIA GPU since Volta
    max_smem_per_block: int = 232448  # 227 KiB opt-in shared memory per block on H100/H200
    max_threads_per_block: int = 1024  # CUDA limit on all current NVIDIA GPUs
    source: str = "built-in H100 figures: no spec table was given"


def gpu_limits(gpu: GpuSpec) -> GpuLimits:
    """The tuner's bounds for `gpu`, from the spec table (the run's and `tritonwright tune`'s one source)."""
    default = GpuLimits()
    smem_kb = gpu.shared_memory_per_block_kb
    return GpuLimits(
        name=gpu.name,
        max_smem_per_block=int(smem_kb * 1024) if smem_kb else default.max_smem_per_block,  # unknown: H100's
        max_threads_per_block=gpu.max_threads_per_block or default.max_threads_per_block,
        source=f"spec table: {gpu.name}")


WARPS = Bound("num_warps", (2, 4, 8, 16),
              "the seeds' final-tuning set: 1 warp cannot hide memory latency, 32 warps rarely pay for their "
              "register pressure")
STAGES = Bound("num_stages", (1, 2, 3, 4),
               "software-pipelining depth: beyond 4, shared memory per stage rarely fits and gains vanish")
STAGE_STEP = 1  # the seeds change num_stages by +-1 only: larger jumps change the memory plan, not micro-tune it
BLOCK_FACTOR = 2  # tl.arange needs powers of two, so the nearest other sizes are half and double
MIN_BLOCK = 16  # tl.dot needs >= 16 along each tiled dimension; smaller tiles leave most lanes idle
MAX_BLOCK = 16384  # one program of a 1-D kernel holding more elements than this spills registers anyway
LIVE_VALUES_PER_ELEMENT = 4  # a tile element keeps about 4 32-bit values live (load, temporaries, result)
DOT_BYTES_PER_ELEMENT = 4  # fp32 worst case for the operand tiles a tl.dot loop stages in shared memory
MAX_CONFIGS = 12  # each config is one compile and one timed child process (~5-10 s on a GPU): about 2 minutes


@dataclass(frozen=True)
class StageSpec:
    name: str
    warps: bool  # vary num_warps
    stages: bool  # vary num_stages
    blocks: bool  # vary BLOCK-like constexprs (grid must follow them)
    reason: str


STAGE_SPECS: dict[str, StageSpec] = {
    "advanced_memory": StageSpec("advanced_memory", True, True, False,
                                 "final micro-tuning: num_warps next to the current value, num_stages +-1; "
                                 "grid and BLOCK untouched"),
    "memory_access": StageSpec("memory_access", False, True, False,
                               "num_stages only: the pipelining depth of loads is the launch-level memory knob"),
    "block_tiling": StageSpec("block_tiling", False, False, True,
                              "powers of two around each BLOCK constexpr; the grid follows the BLOCK via META"),
}


# Every spec the tuner and the rewriter accept: the LLM stages' own, plus "launch", the no-LLM search of
# every launch axis at once (kept out of STAGE_SPECS, which lists the stages a one-step neighbourhood serves).
TUNER_SPECS: dict[str, StageSpec] = {
    **STAGE_SPECS,
    "launch": StageSpec("launch", True, True, True,
                        "the whole launch space at once (tile sizes, warps, pipeline depth): the no-LLM search"),
}


@dataclass(frozen=True)
class Neighbourhood:
    stage: str
    configs: tuple[LaunchConfig, ...]  # the centres (originals) first
    bounds: tuple[Bound, ...]
    dropped: tuple[tuple[LaunchConfig, str], ...] = field(default=())  # configs outside a bound, and which


def _adjacent(value: int, allowed: tuple[int, ...]) -> list[int]:
    """The allowed values next to `value` (its neighbours in sorted order; the nearest ones if it is outside)."""
    ordered = sorted(set(allowed) | {value})
    i = ordered.index(value)
    out = [ordered[j] for j in (i - 1, i + 1) if 0 <= j < len(ordered)]
    return [v for v in out if v in allowed]


def _warp_moves(c: LaunchConfig) -> list[LaunchConfig]:
    return [c.replace(num_warps=w) for w in _adjacent(c.num_warps, WARPS.values)]


def _stage_moves(c: LaunchConfig, whole_range: bool) -> list[LaunchConfig]:
    if whole_range:  # memory_access: only one axis, so all of it costs no more than a plus-neighbourhood
        return [c.replace(num_stages=s) for s in STAGES.values if s != c.num_stages]
    steps = (c.num_stages - STAGE_STEP, c.num_stages + STAGE_STEP)
    return [c.replace(num_stages=s) for s in steps if s in STAGES.values]


def _block_moves(c: LaunchConfig, block_names: Iterable[str]) -> list[LaunchConfig]:
    out = []
    meta = c.meta_dict
    for name in block_names:
        v = meta.get(name)
        if v is None:
            continue
        for nv in (v // BLOCK_FACTOR, v * BLOCK_FACTOR):
            if nv >= 1:
                out.append(c.replace(meta={name: nv}))
    return out


def block_bounds(limits: GpuLimits, uses_dot: bool) -> tuple[Bound, ...]:
    regs = limits.registers_per_sm // LIVE_VALUES_PER_ELEMENT
    low = MIN_BLOCK if uses_dot else 1  # without tl.dot a dimension of 1 is legal (VECTORIZE=1)
    bounds = [
        Bound("BLOCK", (low, MAX_BLOCK), f"each BLOCK constexpr in [{low}, {MAX_BLOCK}]: tl.dot needs "
              f">= {MIN_BLOCK} per dimension; larger 1-D tiles spill"),
        Bound("tile_elements", (1, regs), f"product of BLOCK constexprs <= {regs}: a tile lives in registers, "
              f"{LIVE_VALUES_PER_ELEMENT} values per element, {limits.registers_per_sm} registers per SM "
              f"({limits.source})"),
    ]
    if uses_dot:
        smem = limits.max_smem_per_block
        bounds.append(Bound("tile_bytes_x_stages", (1, smem),
                            f"tile elements x {DOT_BYTES_PER_ELEMENT} B x num_stages <= {smem} B: tl.dot operand "
                            f"tiles are staged in shared memory ({limits.source})"))
    return tuple(bounds)


def violated(c: LaunchConfig, block_names: list[str], bounds: tuple[Bound, ...]) -> str | None:
    meta = c.meta_dict
    tile = 1
    for name in block_names:
        if name in meta:
            tile *= meta[name]
    for b in bounds:
        if b.name == "BLOCK":
            if any(n in meta and not b.values[0] <= meta[n] <= b.values[1] for n in block_names):
                return b.reason
        elif b.name == "tile_elements":
            if tile > b.values[1]:
                return b.reason
        elif b.name == "tile_bytes_x_stages" and tile * DOT_BYTES_PER_ELEMENT * c.num_stages > b.values[1]:
            return b.reason
    return None


def neighbourhood(stage: str, centres: list[LaunchConfig], block_names: list[str] | None = None,
                  limits: GpuLimits | None = None, uses_dot: bool = False,
                  max_configs: int = MAX_CONFIGS) -> Neighbourhood:
    """The configs `stage` tries around `centres` (the original configs, kept first and never bounded away)."""
    spec = STAGE_SPECS[stage]
    blocks = list(block_names or [])
    limits = limits or GpuLimits()
    bounds: tuple[Bound, ...] = ()
    if spec.warps:
        bounds += (WARPS,)
    if spec.stages:
        bounds += (STAGES,)
    if spec.blocks:
        bounds += block_bounds(limits, uses_dot)
    moves_per_centre: list[list[LaunchConfig]] = []
    for c in centres:
        moves: list[LaunchConfig] = []
        if spec.warps:
            moves += _warp_moves(c)
        if spec.stages:
            moves += _stage_moves(c, whole_range=not spec.warps)
        if spec.blocks:
            moves += _block_moves(c, blocks)
        moves_per_centre.append(moves)
    chosen: list[LaunchConfig] = []
    dropped: list[tuple[LaunchConfig, str]] = []
    for c in centres:
        if c not in chosen:
            chosen.append(c)
    # round-robin over the centres so the cap cuts every centre's neighbourhood evenly
    depth = max((len(m) for m in moves_per_centre), default=0)
    for i in range(depth):
        for moves in moves_per_centre:
            if i >= len(moves) or moves[i] in chosen or any(moves[i] == d for d, _ in dropped):
                continue
            why = violated(moves[i], blocks, bounds) if spec.blocks else None
            if why:
                dropped.append((moves[i], why))
            elif len(chosen) < max_configs:
                chosen.append(moves[i])
            else:
                dropped.append((moves[i], f"over the cap of {max_configs} configs (MAX_CONFIGS)"))
    return Neighbourhood(stage, tuple(chosen), bounds, tuple(dropped))
