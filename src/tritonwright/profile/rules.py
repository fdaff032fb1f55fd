"""Stage early-exit rules as data: metric, comparison, threshold and the one line that says why.

A stage is skipped only when every condition of its rule holds on the slowest profiled kernel (the one
that decides the runtime). A condition on a metric that was not collected never holds: the stage runs.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritonwright.profile.metrics import (
    L2_HIT,
    SM_THROUGHPUT,
    STAGES,
    STALL_LONG_SCOREBOARD,
    WARPS_ACTIVE,
    check_stage,
)
from tritonwright.profile.report import KernelProfile, ProfileReport

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}


@dataclass(frozen=True)
class Condition:
    metric: str
    op: str  # one of >=, >, <=, <
    threshold: float
    reason: str

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"condition on {self.metric}: unknown comparison {self.op!r}")

    def holds(self, value: float) -> bool:
        return _OPS[self.op](value, self.threshold)

    def text(self) -> str:
        return f"{self.metric} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class StageRule:
    """Skip `stage` when all conditions hold."""

    stage: str
    conditions: tuple[Condition, ...]

    def metrics(self) -> tuple[str, ...]:
        return tuple(c.metric for c in self.conditions)


EARLY_EXIT_RULES: dict[str, StageRule] = {
    "grid_and_parallel": StageRule("grid_and_parallel", (
        Condition(SM_THROUGHPUT, ">=", 75.0,
                  "the SMs are already busy: a different grid cannot add much parallel work"),
    )),
    "block_tiling": StageRule("block_tiling", (
        Condition(WARPS_ACTIVE, ">=", 60.0,
                  "achieved occupancy is already high: new block sizes mostly trade it away"),
    )),
    "memory_access": StageRule("memory_access", (
        Condition(STALL_LONG_SCOREBOARD, "<=", 15.0,
                  "warps rarely wait on global memory: access-pattern changes have little to win"),
    )),
    "advanced_memory": StageRule("advanced_memory", (
        Condition(L2_HIT, ">=", 90.0, "the L2 already serves nearly all reads: little reuse left to gain"),
        Condition(STALL_LONG_SCOREBOARD, "<=", 10.0,
                  "memory-dependency stalls are small: pipelining (num_stages) has little to hide"),
    )),
}


@dataclass(frozen=True)
class StageDecision:
    stage: str
    skip: bool
    reason: str
    kernel: str | None = None  # the kernel that decided
    values: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "skip": self.skip, "reason": self.reason, "kernel": self.kernel,
                "values": dict(self.values)}


def _deciding_kernels(report: ProfileReport) -> tuple[list[KernelProfile], str]:
    slowest = report.slowest_kernel()
    if slowest is not None:
        return [slowest], f"slowest kernel {slowest.name}"
    # Without durations no kernel can be named the slowest: every kernel must meet the rule.
    return list(report.kernels.values()), "every kernel (durations not collected)"


def decide_stage(report: ProfileReport | None, stage: str,
                 rules: dict[str, StageRule] | None = None) -> StageDecision:
    """Run or skip one stage, with the reason. No report or no rule: the stage runs."""
    check_stage(stage)
    rule = (EARLY_EXIT_RULES if rules is None else rules).get(stage)
    if rule is None:
        return StageDecision(stage, False, "no early-exit rule for this stage")
    if report is None or not report.kernels:
        return StageDecision(stage, False, "no NCU metrics available: the stage runs")
    kernels, who = _deciding_kernels(report)
    values: dict[str, float] = {}
    for cond in rule.conditions:
        for kernel in kernels:
            value = kernel.mean(cond.metric)
            if value is None:
                return StageDecision(stage, False, f"not evaluated: {cond.metric} was not collected for "
                                     f"{kernel.name}; the stage runs", kernel.name, values)
            values[cond.metric if len(kernels) == 1 else f"{kernel.name}/{cond.metric}"] = value
            if not cond.holds(value):
                return StageDecision(stage, False, f"{who}: {cond.metric} = {value:.2f}, rule needs "
                                     f"{cond.op} {cond.threshold:g}; the stage runs", kernel.name, values)
    deciding = kernels[0].name if len(kernels) == 1 else None
    reasons = "; ".join(f"{c.text()} ({c.reason})" for c in rule.conditions)
    return StageDecision(stage, True, f"{who}: {reasons}", deciding, values)


def decide_all(report: ProfileReport | None) -> list[StageDecision]:
    return [decide_stage(report, stage) for stage in STAGES]
