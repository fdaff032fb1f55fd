"""Check every config, time it, and keep the winner only when an A/B comparison says it is significantly faster.

The evaluator and the comparer are injected (Protocols), so the selection logic runs on CPU with fakes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.types import Comparison, EvalResult
from tritonwright.tune import rewrite
from tritonwright.tune.analysis import Analysis, analyse
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.edits import RewriteError
from tritonwright.tune.neighbourhoods import MAX_CONFIGS, GpuLimits, neighbourhood
from tritonwright.tune.plan import KernelPlan, make_plan

DEFAULT_THRESHOLD = 0.02  # the seeds' "revert if gain < 1-2%": a third of smaller "gains" were noise
MAX_ROUNDS = 3  # follow the winner to a new centre at most twice: local moves, bounded cost


class Evaluator(Protocol):
    def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
        """Correctness on fresh inputs (and, when `timed`, a TimingStats) of one candidate."""
        ...


class Comparer(Protocol):
    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        """Interleaved A/B timing: is `b` significantly faster than `a` by at least `threshold`?"""
        ...


class Decision(str, Enum):
    KEEP = "KEEP"  # the tuned code is significantly faster: it is the output
    REVERT = "REVERT"  # not faster enough, or the rewrite failed: the original is the output, unchanged
    REFUSED = "REFUSED"  # nothing could be tuned safely (too dynamic, or the original fails)
    CHECKED = "CHECKED"  # --dry-run: the rewritten code and each config are checked for correctness, not timed


@dataclass(frozen=True)
class TuneSettings:
    stage: str = "advanced_memory"
    freeze: bool = False  # write the winner as plain launch arguments instead of @triton.autotune
    dry_run: bool = False  # check correctness only (works on CPU); no timing, no decision on speed
    threshold: float = DEFAULT_THRESHOLD
    max_rounds: int = MAX_ROUNDS
    max_configs: int = MAX_CONFIGS
    limits: GpuLimits = field(default_factory=GpuLimits)


@dataclass
class ConfigResult:
    kernel: str
    config: LaunchConfig
    original: bool  # one of the configs the original code runs
    status: str  # the evaluator's Status value
    reason: str = ""
    median_ms: float | None = None
    round: int = 1

    @property
    def ok(self) -> bool:
        return self.status == "OK"


@dataclass
class TuneReport:
    stage: str
    decision: Decision
    reason: str
    candidate: Candidate  # the output: the original, unchanged, unless the decision is KEEP or CHECKED
    results: list[ConfigResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (kernel, why it was left alone)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (config label, bound it broke)
    original_ms: float | None = None
    tuned_ms: float | None = None
    winners: dict[str, LaunchConfig] = field(default_factory=dict)
    comparison: Comparison | None = None
    wall_s: float = 0.0


def _ms(result: EvalResult) -> float | None:
    return result.timing.median_ms if result.timing is not None else None


def _usable_plans(analysis: Analysis, plans: list[KernelPlan], settings: TuneSettings,
                  skipped: list[tuple[str, str]]) -> list[KernelPlan]:
    """Plans whose rewrite works on the original configs (the grid follows the BLOCK, ...)."""
    out = []
    for p in plans:
        try:
            rewrite.freeze(analysis, [p], {p.kernel: p.centres[0]})
            if not settings.freeze:
                if p.autotune_problem:
                    raise RewriteError(p.autotune_problem)
                rewrite.autotune(analysis, [p], {p.kernel: list(p.centres)})
        except RewriteError as exc:
            skipped.append((p.kernel, str(exc)))
            continue
        out.append(p)
    return out


class _Run:
    """One tuning run's state: the evaluator, what has been measured, and the report being filled in."""

    def __init__(self, candidate: Candidate, analysis: Analysis, evaluator: Evaluator, settings: TuneSettings,
                 report: TuneReport) -> None:
        self.candidate, self.analysis, self.evaluator = candidate, analysis, evaluator
        self.settings, self.report = settings, report

    def variant(self, source: str) -> Candidate:
        return Candidate(source=source, origin=f"tune:{self.settings.stage}", parent=self.candidate.id)

    def check_all(self, plan: KernelPlan, configs: list[LaunchConfig], rnd: int) -> list[ConfigResult]:
        """Run each config on its own (a frozen variant of the source): correctness, and time when timed.
        An evaluator with `evaluate_many` checks them in one session (same inputs, one process start)."""
        variants = [self.variant(rewrite.freeze(self.analysis, [plan], {plan.kernel: c})) for c in configs]
        timed = not self.settings.dry_run
        many = getattr(self.evaluator, "evaluate_many", None)
        results = many(variants, timed=timed) if many else [self.evaluator.evaluate(v, timed=timed)
                                                            for v in variants]
        out = []
        for config, result in zip(configs, results, strict=True):
            r = ConfigResult(plan.kernel, config, config in plan.centres, result.status.value, result.reason,
                             _ms(result), rnd)
            if r.ok and timed and r.median_ms is None:
                r.status, r.reason = "UNTIMED", result.timing_note or "the evaluator returned no timing"
            self.report.results.append(r)
            out.append(r)
        return out

    def search(self, plan: KernelPlan) -> list[ConfigResult]:
        """Neighbourhood of the originals, then of each new winner, until the winner stays or rounds run out."""
        s = self.settings
        seen: dict[LaunchConfig, ConfigResult] = {}
        centres = list(plan.centres)
        for rnd in range(1, s.max_rounds + 1):
            nb = neighbourhood(s.stage, centres, list(plan.block_names), s.limits, plan.uses_dot,
                               max_configs=s.max_configs)
            self.report.dropped += [(c.label, why) for c, why in nb.dropped if c not in seen]
            fresh = [c for c in nb.configs if c not in seen][:max(0, s.max_configs - len(seen))]
            for c, r in zip(fresh, self.check_all(plan, fresh, rnd), strict=True):
                seen[c] = r
            timed = [r for r in seen.values() if r.ok and r.median_ms is not None]
            if s.dry_run or not timed or not fresh:
                break
            best = min(timed, key=lambda r: r.median_ms or 0.0)
            if best.config in centres or best.round < rnd:
                break  # the winner is interior: no neighbour beats it
            centres = [best.config]
        return list(seen.values())


def _revert(report: TuneReport, candidate: Candidate, reason: str) -> TuneReport:
    report.decision, report.reason, report.candidate = Decision.REVERT, reason, candidate
    return report


def tune(candidate: Candidate, evaluator: Evaluator, comparer: Comparer | None,
         settings: TuneSettings | None = None) -> TuneReport:
    """Tune the launches of `candidate` for one stage; the report says what was tried and why it was decided."""
    s = settings or TuneSettings()
    t0 = time.monotonic()
    report = TuneReport(s.stage, Decision.REFUSED, "", candidate)
    try:
        report = _tune(candidate, evaluator, comparer, s, report)
    finally:
        report.wall_s = round(time.monotonic() - t0, 3)
    return report


def _tune(candidate: Candidate, evaluator: Evaluator, comparer: Comparer | None, s: TuneSettings,
          report: TuneReport) -> TuneReport:
    if s.freeze and s.dry_run:
        report.reason = "--freeze needs timing to pick a winner; --dry-run does not time"
        return report
    if not s.dry_run and comparer is None:
        raise ValueError("a timed tuning run needs a comparer")
    try:
        analysis = analyse(candidate.source)
    except SyntaxError as exc:
        report.reason = f"the candidate does not parse (line {exc.lineno}: {exc.msg})"
        return report
    plan = make_plan(analysis, s.stage)
    report.skipped = list(plan.skipped)
    plans = _usable_plans(analysis, plan.kernels, s, report.skipped)
    if not plans:
        why = "; ".join(f"{k}: {r}" for k, r in report.skipped) or "no @triton.jit kernel"
        report.reason = f"nothing to tune safely, code left unchanged ({why})"
        return report
    original = evaluator.evaluate(candidate, timed=not s.dry_run)
    if not original.ok:
        report.reason = f"the original candidate fails its check ({original.status.value}: {original.reason})"
        return report
    report.original_ms = _ms(original)
    run = _Run(candidate, analysis, evaluator, s, report)
    passing: dict[str, list[ConfigResult]] = {}
    for p in plans:
        results = [r for r in run.search(p) if r.ok]
        if not results:
            return _revert(report, candidate, f"no config of {p.kernel} passed its check")
        passing[p.kernel] = sorted(results, key=lambda r: (not r.original, r.median_ms or 0.0))
        timed = [r for r in results if r.median_ms is not None]
        if timed:
            report.winners[p.kernel] = min(timed, key=lambda r: r.median_ms or 0.0).config
    notes = {r.config: ", ".join(x for x in ("original" if r.original else "",
                                             f"{r.median_ms:.4g} ms" if r.median_ms is not None else "") if x)
             for rs in passing.values() for r in rs}
    try:
        if s.freeze:
            source = rewrite.freeze(analysis, plans, report.winners)
        else:
            source = rewrite.autotune(analysis, plans, {k: [r.config for r in rs] for k, rs in passing.items()},
                                      notes)
    except RewriteError as exc:
        return _revert(report, candidate, f"rewrite failed: {exc}")
    tuned = run.variant(source)
    checked = evaluator.evaluate(tuned, timed=not s.dry_run)
    if not checked.ok:
        return _revert(report, candidate, f"the rewritten code fails its check ({checked.status.value}: "
                       f"{checked.reason})")
    report.tuned_ms = _ms(checked)
    if s.dry_run:
        report.decision, report.candidate = Decision.CHECKED, tuned
        report.reason = (f"{sum(len(v) for v in passing.values())} configs passed their checks; "
                         "not timed (--dry-run)")
        return report
    if all(len(p.centres) == 1 and report.winners.get(p.kernel) == p.centres[0] for p in plans):
        return _revert(report, candidate, "the original config is the fastest measured")
    assert comparer is not None
    try:
        cmp = comparer.compare(candidate, tuned, s.threshold)
    except TaskError as exc:  # the harness could not time the pair: no evidence of a gain, keep the original
        return _revert(report, candidate, f"the A/B comparison failed: {exc}")
    report.comparison = cmp
    if cmp.significant and cmp.speedup >= 1 + s.threshold:
        report.decision, report.candidate, report.reason = Decision.KEEP, tuned, f"kept: {cmp.reason}"
        return report
    return _revert(report, candidate, f"reverted: {cmp.reason}")
