"""Which ncu metrics each optimization stage needs, each with the one line that says why it is there.

The core set goes into every stage's prompt (the seeds' five metrics); stage sets add what that stage
acts on; DURATION and ROOFLINE feed the rules (slowest kernel) and the derived figures.
"""

from __future__ import annotations

from collections.abc import Iterable

from tritonwright.defaults import STAGES  # re-exported: the stage names the metric sets are keyed by

SM_THROUGHPUT = "sm__throughput.avg.pct_of_peak_sustained_elapsed"
GRID_SIZE = "launch__grid_size"
WARPS_ACTIVE = "sm__warps_active.avg.pct_of_peak_sustained_active"
DRAM_THROUGHPUT = "dram__throughput.avg.pct_of_peak_sustained_elapsed"
L2_HIT = "lts__t_sector_hit_rate.pct"
DURATION = "gpu__time_duration.sum"
DRAM_BYTES = "dram__bytes.sum"
# On Volta and later, a warp waiting for a global/local memory result is a "long scoreboard" stall; the
# pre-Volta `..._memory_dependency_...` name the seed system used is not collectable on these GPUs.
STALL_LONG_SCOREBOARD = "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct"
STALL_SHORT_SCOREBOARD = "smsp__warp_issue_stalled_short_scoreboard_per_warp_active.pct"
STALL_BARRIER = "smsp__warp_issue_stalled_barrier_per_warp_active.pct"
TENSOR_PIPE = "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active"
FP32_ADD = "smsp__sass_thread_inst_executed_op_fadd_pred_on.sum"
FP32_MUL = "smsp__sass_thread_inst_executed_op_fmul_pred_on.sum"
FP32_FMA = "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum"

CORE: dict[str, str] = {
    SM_THROUGHPUT: "how busy the busiest SM unit is: low means too little parallel work or stalls",
    GRID_SIZE: "number of blocks launched: too few to fill the SMs is the first thing to fix",
    WARPS_ACTIVE: "achieved occupancy: how many warps the SMs keep in flight to hide latency",
    DRAM_THROUGHPUT: "share of DRAM bandwidth used: near peak means memory-bound and done with bandwidth",
    L2_HIT: "L2 hit rate: low means re-reads go to DRAM",
}
DURATION_SET: dict[str, str] = {
    DURATION: "kernel time; the rules judge the slowest kernel and the derived rates divide by it",
}
RULE_INPUTS: dict[str, str] = {
    STALL_LONG_SCOREBOARD: "memory-dependency stalls: with it one profile decides every stage's early exit",
}
ROOFLINE: dict[str, str] = {
    DRAM_BYTES: "bytes moved to/from DRAM, for the achieved bandwidth",
    FP32_ADD: "FP32 adds executed by threads, for the achieved FLOP rate",
    FP32_MUL: "FP32 multiplies executed by threads, for the achieved FLOP rate",
    FP32_FMA: "FP32 fused multiply-adds (two FLOPs each), for the achieved FLOP rate",
}
STAGE_SETS: dict[str, dict[str, str]] = {
    "grid_and_parallel": {
        "launch__block_size": "threads per block, with the grid size gives the total parallelism",
        "launch__waves_per_multiprocessor": "how many full waves of blocks the grid makes: tails waste SMs",
    },
    "block_tiling": {
        "launch__block_size": "threads per block (num_warps * 32)",
        "launch__registers_per_thread": "registers per thread: the usual occupancy limiter of large tiles",
        "launch__shared_mem_per_block_dynamic": "Triton's shared memory per block (num_stages, tile sizes)",
        "launch__occupancy_limit_registers": "blocks per SM allowed by registers",
        "launch__occupancy_limit_shared_mem": "blocks per SM allowed by shared memory",
        "launch__occupancy_limit_warps": "blocks per SM allowed by the warp slots",
        "launch__occupancy_limit_blocks": "blocks per SM allowed by the block slots",
        "sm__maximum_warps_per_active_cycle_pct": "theoretical occupancy, to compare with warps active",
    },
    "memory_access": {
        STALL_LONG_SCOREBOARD: "warps waiting on global/local memory results (memory dependency)",
        "smsp__warp_issue_stalled_lg_throttle_per_warp_active.pct": "warps waiting for the load/store queue",
        "l1tex__t_sector_hit_rate.pct": "L1 hit rate: reuse inside a block",
        "smsp__sass_average_data_bytes_per_sector_mem_global_op_ld.pct":
            "sector efficiency of global loads: below 100% means uncoalesced or strided reads",
        "smsp__sass_average_data_bytes_per_sector_mem_global_op_st.pct":
            "sector efficiency of global stores",
    },
    "advanced_memory": {
        STALL_LONG_SCOREBOARD: "memory-dependency stalls left after the earlier stages",
        STALL_SHORT_SCOREBOARD: "waits on shared memory and special-function results",
        STALL_BARRIER: "waits at tl.debug_barrier / block-wide syncs",
        TENSOR_PIPE: "tensor-core pipe use (HMMA and Hopper's HGMMA): whether tl.dot runs on tensor cores",
    },
}

# Launch and device attributes are not hardware counters: ncu always reports them, and --query-metrics
# (which lists counters, ratios and throughputs) does not list them.
LAUNCH_PREFIXES: tuple[str, ...] = ("launch__", "device__")
# Computed by ncu from launch attributes; absent from --query-metrics, present in the H200 fixture CSVs.
COMPUTED_BY_NCU: frozenset[str] = frozenset({"sm__maximum_warps_per_active_cycle_pct"})


def check_stage(stage: str) -> str:
    """Validate a stage name (callers pass None for the core set only, and do not call this then)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    return stage


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


def metrics_for_stage(stage: str | None, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Everything to collect for one stage: core + duration + rule inputs + roofline + the stage's set + extra."""
    stage_set = STAGE_SETS[check_stage(stage)] if stage else {}
    return _unique([*CORE, *DURATION_SET, *RULE_INPUTS, *ROOFLINE, *stage_set, *extra])


def all_metrics() -> tuple[str, ...]:
    """The union over all stages (used to capture fixtures and by `profile --stage all`)."""
    names: list[str] = [*CORE, *DURATION_SET, *RULE_INPUTS, *ROOFLINE]
    for stage in STAGES:
        names.extend(STAGE_SETS[stage])
    return _unique(names)


def prompt_metrics(stage: str | None) -> tuple[str, ...]:
    """What the prompt JSON shows for a stage: the core five, then the stage's own metrics."""
    stage_set = STAGE_SETS[check_stage(stage)] if stage else {}
    return _unique([*CORE, *stage_set])


def base_name(metric: str) -> str:
    """The name --query-metrics lists: the metric without its rollup/submetric suffix."""
    return metric.split(".", 1)[0]


def describe(metric: str) -> str | None:
    """The one-line reason a metric is collected, if it is one of ours."""
    for table in (CORE, DURATION_SET, RULE_INPUTS, ROOFLINE, *STAGE_SETS.values()):
        if metric in table:
            return table[metric]
    return None
