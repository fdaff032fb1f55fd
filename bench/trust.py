"""Measurement trust: A/A (a kernel against itself), sensitivity (kernels slowed by a known amount on
purpose) and the spread of repeated medians. Summaries are pure functions of the comparisons' plain data.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from typing import Any

from bench import variants

CALIBRATION_TOLERANCE = 0.005  # re-calibrate a variant whose measured slowdown is more than 0.5 points off


@dataclass(frozen=True)
class TrustSpec:
    task: str
    candidate: str
    overrides: tuple[tuple[str, str], ...]
    decisions: int  # independent A/A decisions
    threshold: float  # the tuner's keep threshold: a decision says "faster" only beyond it and the noise
    rounds: int  # interleaved rounds per decision, as the tuner's A/B comparison
    slowdowns: tuple[tuple[float, int], ...]  # (target slowdown, decisions): (0.05, 50) = 5% slower, 50 times
    timing: tuple[tuple[str, float], ...] = ()  # EvalConfig timing overrides (warmup_ms, budget_ms, min_runs)
    calibrations: int = 2  # timed evaluations of the variants before the decisions (first + one correction)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TrustSpec:
        return TrustSpec(task=d["task"], candidate=d["candidate"],
                         overrides=tuple((k, str(v)) for k, v in d.get("overrides", {}).items()),
                         decisions=int(d["decisions"]), threshold=float(d["threshold"]), rounds=int(d["rounds"]),
                         slowdowns=tuple((float(s), int(n)) for s, n in d["slowdowns"]),
                         timing=tuple((k, float(v)) for k, v in d.get("timing", {}).items()),
                         calibrations=int(d.get("calibrations", 2)))


def comparison_data(c: Any) -> dict[str, Any]:
    """The plain data of one tritonwright Comparison that the summaries need."""
    return {"speedup": c.speedup, "noise": c.noise, "significant": c.significant, "reason": c.reason,
            "a_median_ms": c.a.median_ms if c.a else None, "b_median_ms": c.b.median_ms if c.b else None,
            "ratios": list(c.ratios)}


def summarize(decisions: list[dict[str, Any]]) -> dict[str, Any]:
    """How many decisions said "faster" (significant), and the measured speedups and noise bands."""
    if not decisions:
        return {"n": 0, "said_faster": 0, "rate": None}
    speedups = [d["speedup"] for d in decisions]
    said = sum(1 for d in decisions if d["significant"])
    return {"n": len(decisions), "said_faster": said, "rate": said / len(decisions),
            "speedup_median": statistics.median(speedups), "speedup_min": min(speedups),
            "speedup_max": max(speedups), "noise_median": statistics.median(d["noise"] for d in decisions)}


def spread(values: list[float]) -> dict[str, Any]:
    """Relative spread of repeated medians: range, interquartile range and coefficient of variation."""
    if len(values) < 2:
        return {"n": len(values)}
    med = statistics.median(values)
    q = statistics.quantiles(values, n=4, method="inclusive")
    return {"n": len(values), "median_ms": med, "rel_range": (max(values) - min(values)) / med,
            "rel_iqr": (q[2] - q[0]) / med, "cv": statistics.stdev(values) / statistics.mean(values)}


def repeated_medians(aa: list[dict[str, Any]]) -> dict[str, Any]:
    """Spread of the A side's median per decision, and of every round's median ratio A/A."""
    per_decision = [d["a_median_ms"] for d in aa if d.get("a_median_ms") is not None]
    ratios = [r for d in aa for r in d.get("ratios", [])]
    out = {"per_decision": spread(per_decision)}
    if ratios:
        out["round_ratio"] = {"n": len(ratios), "min": min(ratios), "max": max(ratios),
                              "rel_iqr": spread(ratios).get("rel_iqr")}
    return out


def run(spec: TrustSpec) -> dict[str, Any]:
    """GPU: calibrate the slowed variants, then the A/A and sensitivity decisions (one session per pair)."""
    from tritonwright.candidate import Candidate, read_candidate
    from tritonwright.eval.runner import compare_repeated, evaluate_many
    from tritonwright.eval.types import EvalConfig
    from tritonwright.floor import task_traffic
    from tritonwright.task import load_task

    task = load_task(spec.task, dict(spec.overrides))
    base = read_candidate(spec.candidate)
    config = dataclasses.replace(EvalConfig(device="cuda", baselines=False), **dict(spec.timing))
    traffic = task_traffic(task)
    bytes_input = traffic.reads[0].nbytes
    # 1. Calibrate: the bytes model first, then one correction from a timed evaluation of each variant.
    targets = [s for s, _ in spec.slowdowns]
    fractions = [variants.extra_fraction_for(s, traffic.bytes_moved, bytes_input) for s in targets]
    calibration: list[dict[str, Any]] = []
    for step in range(spec.calibrations):
        cands = [base] + [Candidate(source=variants.slowed_source(base.source, f), origin="bench:slowed")
                          for f in fractions]
        results = evaluate_many(task, cands, dataclasses.replace(config, trials=1))
        bad = [r for r in results if not r.ok or r.timing is None]
        if bad:
            return {"status": "failed", "reason": f"calibration: {bad[0].status.value}: {bad[0].reason}",
                    "calibration": calibration}
        t0 = results[0].timing.median_ms  # type: ignore[union-attr]
        measured = [r.timing.median_ms / t0 - 1 for r in results[1:]]  # type: ignore[union-attr]
        calibration.append({"step": step, "fractions": list(fractions), "base_ms": t0, "measured": measured})
        off = [abs(m - s) > CALIBRATION_TOLERANCE for m, s in zip(measured, targets, strict=True)]
        if not any(off):
            break
        if step + 1 < spec.calibrations:  # correct only the variants that missed: a re-draw of noise helps none
            fractions = [variants.recalibrate(f, s, m) if o else f
                         for f, s, m, o in zip(fractions, targets, measured, off, strict=True)]
    # 2. A/A: the same code loaded twice; every "faster" is a false one.
    aa = [comparison_data(c) for c in compare_repeated(task, base, base, config, spec.threshold, spec.rounds,
                                                       spec.decisions)]
    out: dict[str, Any] = {"status": "ok", "config": {k: getattr(config, k) for k in
                                                      ("warmup_ms", "min_runs", "budget_ms", "max_runs")},
                           "threshold": spec.threshold, "rounds": spec.rounds, "calibration": calibration,
                           "aa": {"summary": summarize(aa), "decisions": aa},
                           "spread": repeated_medians(aa), "slowed": []}
    # 3. Sensitivity: A is the slowed variant, B the original; "faster" is the right answer.
    for (target, n), fraction in zip(spec.slowdowns, fractions, strict=True):
        slow = Candidate(source=variants.slowed_source(base.source, fraction), origin="bench:slowed")
        ds = [comparison_data(c) for c in compare_repeated(task, slow, base, config, spec.threshold, spec.rounds,
                                                           n)]
        s = summarize(ds)
        out["slowed"].append({"target": target, "fraction": fraction, "summary": s, "decisions": ds,
                              "measured_slowdown": s["speedup_median"] - 1 if ds else None})
    return out
