"""Batch figures: correctness, fast_p, speedup averages by level, spend, time and per-stage gains.

Pure functions of an exported bundle; `batch_summary` returns plain JSON-compatible data so the CLI can
print it and the batch report can render it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tritonwright.decision import Decision
from tritonwright.report.task_view import KEPT, duration, from_torch_compile, positive

# KernelBench reports fast_0 (correct at all), fast_1 (faster than the baseline) and fast_2 (twice as fast);
# 1.2 adds the "clearly faster, beyond noise and small wins" point between them.
FAST_P_THRESHOLDS: tuple[float, ...] = (0.0, 1.0, 1.2, 2.0)
BASELINES: tuple[str, ...] = ("eager", "compiled")  # torch eager and torch.compile, the two references
# The pipeline's order; a stage the bundle names but this list does not is shown after these.
STAGE_ORDER: tuple[str, ...] = (
    "seed", "repair", "grid_and_parallel", "block_tiling", "memory_access", "advanced_memory", "tune", "race", "final",
)
# Attempt decisions every stage row counts (zero included), in the batch report's column order.
COUNTED = (Decision.KEEP, Decision.REVERT, Decision.FAILED, Decision.SKIP, Decision.BASE)
UNKNOWN_LEVEL = "unknown"  # the group of tasks whose level the bundle does not know


@dataclass(frozen=True)
class Outcome:
    """One task's result as the batch figures see it."""

    key: str
    level: str
    status: str
    correct: bool
    speedup: dict[str, float | None]  # baseline name -> speedup of the best candidate
    from_compile: bool = False  # the best is torch.compile's own code (its seed, or it won the race), maybe tuned


def _best_speedup(task: dict[str, Any], baseline: str) -> float | None:
    best = task.get("best") or {}
    base_ms = positive((task.get("baselines") or {}).get(f"{baseline}_ms"), f"task {task.get('key')!r} {baseline}_ms")
    median = positive(best.get("median_ms"), f"task {task.get('key')!r} best median_ms")
    given = positive(best.get(f"speedup_{baseline}"), f"task {task.get('key')!r} best speedup_{baseline}")
    if given is None and base_ms is not None and median is not None:
        return base_ms / median
    return given


def outcome(task: dict[str, Any]) -> Outcome:
    """A task is correct when it finished ("done") with a best candidate: one that passed every check."""
    correct = task.get("status") == "done" and task.get("best") is not None
    level = task.get("level")
    return Outcome(
        key=str(task.get("key")),
        level=UNKNOWN_LEVEL if level is None else str(level),
        status=str(task.get("status")),
        correct=correct,
        speedup={b: (_best_speedup(task, b) if correct else None) for b in BASELINES},
        from_compile=correct and from_torch_compile(task),
    )


def fast_p(outcomes: Sequence[Outcome], p: float, baseline: str) -> float | None:
    """KernelBench's fast_p: the share of ALL tasks that are correct AND have speedup > p (strictly).

    fast_p = #{tasks t : t correct and speedup_t > p} / N, with N every task in the set (failed and
    unfinished ones included, as KernelBench divides by the number of problems), speedup_t = baseline
    time / time of t's best candidate, against `baseline` ("eager" or "compiled"). fast_0 is the share of
    tasks that are correct and timed. A correct task without a timing against that baseline counts as not
    fast. None when the set is empty, or when it has correct tasks but none with a timing against that
    baseline (a CPU run measures no speed, and 0% would claim it measured slowness); a set with no
    correct task at all has fast_p = 0.
    """
    if not outcomes:
        return None
    correct = [o.speedup[baseline] for o in outcomes if o.correct]
    timed = [s for s in correct if s is not None]
    if correct and not timed:
        return None
    return sum(1 for s in timed if s > p) / len(outcomes)


def geomean(values: Iterable[float]) -> float | None:
    """Geometric mean of positive numbers (the right mean for ratios: 2x and 0.5x average to 1x); None if none."""
    vals = list(values)
    if not vals:
        return None
    return math.exp(sum(math.log(v) for v in vals) / len(vals))


def _speedup_stats(outcomes: Sequence[Outcome], baseline: str) -> dict[str, Any]:
    """Geomean, median, min and max speedup over the correct tasks that have a timing against `baseline`."""
    vals = [v for o in outcomes if o.correct and (v := o.speedup[baseline]) is not None]
    return {
        "n": len(vals),
        "geomean": geomean(vals),
        "median": statistics.median(vals) if vals else None,
        "min": min(vals) if vals else None,
        "max": max(vals) if vals else None,
    }


def group_figures(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Correct share, fast_p and speedup statistics of one set of tasks (the batch, or one level)."""
    n = len(outcomes)
    correct = sum(1 for o in outcomes if o.correct)
    return {
        "tasks": n,
        "correct": correct,
        "correct_share": correct / n if n else None,
        "fast_p": {b: {f"{p:g}": fast_p(outcomes, p, b) for p in FAST_P_THRESHOLDS} for b in BASELINES},
        "speedup": {b: _speedup_stats(outcomes, b) for b in BASELINES},
    }


def _sum_known(values: list[Any]) -> tuple[float | None, int]:
    """Sum of the known values and how many were unknown; the sum is None when none was known."""
    known = [float(v) for v in values if v is not None]
    return (sum(known) if known else None), len(values) - len(known)


def usage_totals(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """LLM tokens, calls and cost summed over tasks; tasks whose cost is unknown are counted, not guessed."""
    usages = [t.get("usage") or {} for t in tasks]
    # A task that made no LLM call spent nothing, whatever its cost field says.
    cost, cost_unknown = _sum_known([u.get("cost_usd") for u in usages if u.get("calls")])
    if cost is None and not cost_unknown:
        cost = 0.0
    return {
        "input_tokens": sum(int(u.get("input_tokens") or 0) for u in usages),
        "output_tokens": sum(int(u.get("output_tokens") or 0) for u in usages),
        "calls": sum(int(u.get("calls") or 0) for u in usages),
        "cost_usd": cost,
        "cost_unknown_tasks": cost_unknown,
    }


def time_totals(tasks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """GPU seconds and wall seconds summed over tasks, with how many tasks did not report each."""
    gpu, gpu_unknown = _sum_known([duration(t.get("gpu_s"), f"task {t.get('key')!r} gpu_s") for t in tasks])
    wall, wall_unknown = _sum_known([duration(t.get("wall_s"), f"task {t.get('key')!r} wall_s") for t in tasks])
    return {"gpu_s": gpu, "gpu_unknown_tasks": gpu_unknown, "wall_s": wall, "wall_unknown_tasks": wall_unknown}


def task_stage_gains(task: dict[str, Any]) -> dict[str, float]:
    """Per stage of one task: the factor by which its kept attempts cut the best time (1.0 = nothing kept).

    Walks the attempts in order holding the best time; a KEEP at stage s multiplies s's gain by
    old best / new time. A stage counts only where it ran (some attempt not SKIP) while a best time was
    known, so repair steps that made a failing seed work, and untimed CPU runs, add no gain.
    """
    current: float | None = None
    gains: dict[str, float] = {}
    for att in sorted(task.get("attempts") or [], key=lambda a: int(a["seq"])):
        stage = str(att.get("stage"))
        median = positive(att.get("median_ms"), f"task {task.get('key')!r} attempt {att.get('seq')} median_ms")
        if att.get("decision") != Decision.SKIP and current is not None:
            gains.setdefault(stage, 1.0)
            if att.get("decision") == Decision.KEEP and att.get("status") == "OK" and median is not None:
                gains[stage] *= current / median
        if att.get("decision") in KEPT and att.get("status") == "OK" and median is not None:
            current = median
    return gains


def stage_table(tasks: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per stage over all tasks: attempts by decision, and the geometric-mean gain where it ran timed."""
    counts: dict[str, dict[str, int]] = {}
    gains: dict[str, list[float]] = {}
    for task in tasks:
        for att in task.get("attempts") or []:
            per = counts.setdefault(str(att.get("stage")), {d.value: 0 for d in COUNTED})
            decision = str(att.get("decision"))
            per[decision] = per.get(decision, 0) + 1
        for stage, factor in task_stage_gains(task).items():
            gains.setdefault(stage, []).append(factor)
    order = [s for s in STAGE_ORDER if s in counts] + [s for s in counts if s not in STAGE_ORDER]
    return {
        s: {"decisions": counts[s], "tasks_timed": len(gains.get(s, [])), "gain_geomean": geomean(gains.get(s, []))}
        for s in order
    }


def _level_order(level: str) -> tuple[int, str]:
    return (1, level) if level == UNKNOWN_LEVEL else (0, level.zfill(4))


def batch_summary(bundle: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the batch report, as JSON-compatible data.

    Keys: run (id, created, kind); status counts (done, failed, running); the figures of the whole batch
    (tasks, correct, correct_share, fast_p[baseline]["0"|"1"|"1.2"|"2"], speedup[baseline] with n,
    geomean, median, min, max), with baseline "eager" or "compiled"; by_level (the same figures per
    level, "unknown" last); usage (tokens, calls, cost_usd, cost_unknown_tasks); time (gpu_s, wall_s,
    summed over tasks, with counts of tasks that did not report them); stages (decisions per stage and
    geometric-mean gain); from_compile (how many correct tasks end on torch.compile's own code); per_task
    (key, level, status, correct, speedups, from_compile of each task).
    Absent figures are None, never 0 or inf. See fast_p for the exact definition.
    """
    tasks = list(bundle.get("tasks") or [])
    outcomes = [outcome(t) for t in tasks]
    levels = sorted({o.level for o in outcomes}, key=_level_order)
    run = bundle.get("run") or {}
    return {
        "run": {k: run.get(k) for k in ("id", "created", "kind")},
        "status": {s: sum(1 for t in tasks if t.get("status") == s) for s in ("done", "failed", "running")},
        **group_figures(outcomes),
        "by_level": {lv: group_figures([o for o in outcomes if o.level == lv]) for lv in levels},
        "usage": usage_totals(tasks),
        "time": time_totals(tasks),
        "stages": stage_table(tasks),
        "from_compile": sum(1 for o in outcomes if o.from_compile),
        "per_task": [
            {"key": o.key, "level": o.level, "status": o.status, "correct": o.correct, "speedup": o.speedup,
             "from_compile": o.from_compile}
            for o in outcomes
        ],
    }
