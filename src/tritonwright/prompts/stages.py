"""Stages, task kinds and styles the prompts know, and the metric targets each stage's text quotes.

The numbers here are what the stage sections tell the model ("SM throughput >= 75%: the grid is fine");
each carries the one line that says why. The metric names are ncu's, as they appear in the metrics block.
"""

from __future__ import annotations

from tritonwright.defaults import STAGES  # re-exported: the stages the prompts know
from tritonwright.errors import UserInputError

KINDS: tuple[str, ...] = ("single", "fusion", "network")
STYLES: tuple[str, ...] = ("compact", "verbose")
DEFAULT_STYLE = "compact"  # seed 000's style: shorter prompt, same rules

SM_THROUGHPUT = "sm__throughput.avg.pct_of_peak_sustained_elapsed"
GRID_SIZE = "launch__grid_size"
WARPS_ACTIVE = "sm__warps_active.avg.pct_of_peak_sustained_active"
DRAM_THROUGHPUT = "dram__throughput.avg.pct_of_peak_sustained_elapsed"
L2_HIT = "lts__t_sector_hit_rate.pct"
# Waiting on a global-memory result shows as a "long scoreboard" stall on Volta and later.
LONG_SCOREBOARD = "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct"

SM_BUSY_PCT = 75  # SM throughput at or above this: the grid already keeps the SMs busy
MIN_WAVES = 2  # at least two programs per SM, so the last wave's tail overlaps real work
OCCUPANCY_OK_PCT = 60  # achieved occupancy above this rarely limits a Triton kernel; tile shape matters more
DRAM_BOUND_PCT = 80  # DRAM throughput above this: bandwidth-bound, only moving fewer bytes helps
MEM_STALL_OK_PCT = 15  # long-scoreboard stalls at or under this: memory latency is already hidden
L2_HIT_OK_PCT = 90  # L2 hit rate at or above this leaves little reuse to gain from reordering
FINAL_STALL_OK_PCT = 10  # with stalls this low the last stage has nothing left to tune


class UnknownNameError(UserInputError):
    """An unknown stage, kind or style."""


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise UnknownNameError(f"unknown {what} {value!r}; valid {what}s: {', '.join(choices)}")
    return value


def stage_targets(stage: str, sm_count: int) -> dict[str, object]:
    """The metric names and thresholds the stage's text quotes; `sm_count` sizes the grid advice."""
    check_choice("stage", stage, STAGES)
    common: dict[str, object] = {
        "sm_throughput": SM_THROUGHPUT, "grid_size": GRID_SIZE, "warps_active": WARPS_ACTIVE,
        "dram_throughput": DRAM_THROUGHPUT, "l2_hit": L2_HIT, "long_scoreboard": LONG_SCOREBOARD,
    }
    per_stage: dict[str, dict[str, object]] = {
        "grid_and_parallel": {"sm_busy_pct": SM_BUSY_PCT, "min_waves": MIN_WAVES, "sm_count": sm_count,
                              "min_grid": MIN_WAVES * sm_count},
        "block_tiling": {"occupancy_ok_pct": OCCUPANCY_OK_PCT, "dram_bound_pct": DRAM_BOUND_PCT},
        "memory_access": {"mem_stall_ok_pct": MEM_STALL_OK_PCT, "dram_bound_pct": DRAM_BOUND_PCT,
                          "l2_hit_ok_pct": L2_HIT_OK_PCT},
        "advanced_memory": {"l2_hit_ok_pct": L2_HIT_OK_PCT, "final_stall_ok_pct": FINAL_STALL_OK_PCT},
    }
    return {**common, **per_stage[stage]}
