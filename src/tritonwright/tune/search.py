"""Search the launch space, check every config that could win, and keep the winner only when an A/B
comparison says it is significantly faster.

A search runs in phases over the kernel's space (tune/space.py): a coarse grid of tile sizes and warps, a
sweep of pipeline depths (kernels with a loop), then local refinement around the best two. Each phase is
one screening session: every config compiled and timed on the same inputs, unchecked. The fastest screened
configs are then evaluated in full (correctness on inputs the screening never saw, full timing); only those
can win. The evaluator, the comparer and the clock are injected (tritonwright/seams.py), so the selection logic
runs on CPU with fakes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.defaults import KEEP_THRESHOLD
from tritonwright.errors import TaskError
from tritonwright.eval.errtext import headline
from tritonwright.eval.types import Comparison, EvalResult, KernelShare, precompile_detail
from tritonwright.seams import Clock, Comparer, Evaluator
from tritonwright.tune import rewrite
from tritonwright.tune.analysis import Analysis, analyse
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.edits import GridDoesNotFollow, RewriteError
from tritonwright.tune.neighbourhoods import GpuLimits
from tritonwright.tune.plan import KernelPlan, TunePlan, make_plan
from tritonwright.tune.space import (
    DOT,
    LAUNCH_STAGE,
    Space,
    build_space,
    coarse_grid,
    describe,
    kernel_kind,
    neighbours,
    stage_sweep,
)

DEFAULT_THRESHOLD = KEEP_THRESHOLD  # the one keep/revert threshold (tritonwright/defaults.py says why)
MAX_CONFIGS = 96  # screened configs per kernel: each costs a compile and ~20 timed runs (~0.3-2 s on a GPU)
TUNE_BUDGET_S = 120.0  # a tuner pass's time: about two minutes of GPU
# No screening session, search phase or kernel starts past this share of the budget: the fastest configs'
# full checks and the rewritten code's check follow, and on a slow-to-evaluate task they are no small part
# (conv_mish_bn's race pass on the H200: 21 s of them after 50 s of screening, 71 s against a 45 s budget).
SEARCH_SHARE = 0.6
# Configs per screening call, the budget checked between calls: a 2-D reduction of Inductor's has a 68-config
# grid (70 s on an H200) that would run past any budget in one; most grids need one or two (16-27 on the
# examples). The calls of one search share one open session (eval.runner._Screening): a chunk costs no start.
SCREEN_CHUNK = 24
# A config this many times slower than the best known (the original, or the fastest screened so far) in its
# warm-up runs keeps them as its screening figure: it cannot be among the fastest three, and its 10+ timed runs
# cost seconds when it is slow (a tiny BLOCK over a large tensor: ~100 ms a run).
CUTOFF_FACTOR = 2.0
# A kernel whose fastest screened config is not this share of the keep threshold faster than the original's own
# screened figure (a search's phases share one session and its inputs) has nothing verified: the full checks
# and the rewritten code's check cost 9.6 and 21 s of conv_mish_bn's two passes on an H200 to find 0.2 % gains
# the threshold then refused; screened and full figures agreed within 0.5 % on softmax, so a config that could
# clear the threshold screens well above half of it.
NO_GAIN_SHARE = 0.5
VERIFY_TOP = 3  # screened configs evaluated in full per batch: screening noise is ~1-2%, so the top three
VERIFY_BATCHES = 3  # when every config of a batch fails its check, the next ones are tried, this many times
REFINE_ROUNDS = 3  # local refinement follows the best at most this many steps from the coarse grid
REFINE_FROM = 2  # refine around the best two: a second basin is often one step from the best
DRY_RUN_CONFIGS = 12  # CPU: each config runs in the interpreter (seconds each); the nearest 12 are checked
# The verified configs' timing budget (EvalConfig.budget_ms is 1000 ms; min_runs 100 still hold): it ranks the
# few fastest screened configs, whose 30 ms screens already agreed with full timings within 0.5 % on an H200,
# and the A/B (or the rewritten code's full timing) decides; a full timing cost 0.54 s per softmax config.
VERIFY_BUDGET_MS = 100.0
VERIFY_SEED_OFFSET = 500  # verification draws inputs the screening (seed + 1) never saw
ERROR_CHARS = 200  # a failed config's error is one cell of a report's table: the exception line, not a traceback
# How eval.errtext.describe_exception's text starts when it holds frames, a compile message, or was cut:
# the exception line comes last there, after the frames.
_TRACEBACK_STARTS = ("Traceback", "CompilationError:", "...")


def error_line(reason: str) -> str:
    """A failure's reason on one line, cut to ERROR_CHARS: the exception line of a traceback (the compile
    message's last line when that line only points at it), else the first line."""
    lines = [ln.strip() for ln in reason.strip().splitlines() if ln.strip() and not ln.startswith("hint: ")]
    if not lines:
        return ""
    head = lines[0]
    if head.startswith(_TRACEBACK_STARTS):
        head = headline(reason).strip()
        if head.endswith("message above)") and len(lines) > 1:  # "CompilationError (see the message above)"
            head = f"{head.split(' (')[0]}: {lines[-2]}"
    return head if len(head) <= ERROR_CHARS else head[:ERROR_CHARS - 1] + "…"


Progress = Callable[[str], None] | None  # told each step of a tuner pass as it starts


def _quiet(step: str) -> None:
    """The Progress of a caller that asked for none."""


@dataclass(frozen=True)
class TuneSettings:
    stage: str = "advanced_memory"  # a stage's axes (tune/neighbourhoods.py), or "launch": every axis at once
    freeze: bool = False  # write the winner as plain launch arguments instead of @triton.autotune
    dry_run: bool = False  # check correctness only (works on CPU); no timing, no decision on speed
    threshold: float = DEFAULT_THRESHOLD
    # False: the tuned code that passed its checks and full timing is the outcome (KEEP) without an A/B against
    # the original; for a caller whose own A/B decides (the race's tuned code against the run's best: a second
    # A/B against torch.compile's untuned code cost ~10 s on an H200 and decided nothing the race's does not)
    ab: bool = True
    max_rounds: int = REFINE_ROUNDS
    max_configs: int = MAX_CONFIGS
    budget_s: float = TUNE_BUDGET_S
    verify_top: int = VERIFY_TOP
    limits: GpuLimits = field(default_factory=GpuLimits)


@dataclass
class ConfigResult:
    kernel: str
    config: LaunchConfig
    original: bool  # one of the configs the original code runs
    status: str  # the evaluator's Status value
    reason: str = ""
    median_ms: float | None = None  # the full evaluation's median when verified, else the screening's
    round: int = 1  # the search batch that first tried it (1 = the coarse grid)
    phase: str = "coarse"  # coarse | stages | refine | dry-run
    screen_ms: float | None = None  # screening median (unchecked ranking)
    verified: bool = False  # evaluated in full: correctness on fresh inputs and a full timing
    chosen: bool = False  # the search's pick for its kernel (the fastest that passed its full check)

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    @property
    def error(self) -> str | None:
        """Why a config failed, on one line (error_line); None when it passed."""
        return None if self.ok else (error_line(self.reason) or self.status)

    def row(self) -> dict[str, Any]:
        """This config as plain JSON data: one row of the run store's tuner_configs table and of the reports.
        `status` is the full check's when `verified`, else the screening's."""
        return {"kernel": self.kernel, "label": self.config.label, "config": self.config.as_dict(),
                "phase": self.phase, "round": self.round, "original": self.original, "screen_ms": self.screen_ms,
                "verified": self.verified, "verified_ms": self.median_ms if self.verified else None,
                "status": self.status, "error": self.error, "chosen": self.chosen}


@dataclass
class TuneReport:
    stage: str
    decision: Decision  # one of TUNER_DECISIONS (tritonwright/decision.py); the run maps it by attempt_decision
    reason: str
    candidate: Candidate  # the output: the original, unchanged, unless the decision is KEEP or CHECKED
    results: list[ConfigResult] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (kernel, why it was left alone)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (config label, bound it broke)
    original_ms: float | None = None
    tuned_ms: float | None = None
    tuned_kernels: KernelShare | None = None  # where the tuned code's GPU time went, from its full check
    winners: dict[str, LaunchConfig] = field(default_factory=dict)
    comparison: Comparison | None = None
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)  # the spaces searched, budget stops, verification misses
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went: screen, verify, check, A/B

    def time_line(self) -> str:
        """Where the time went, on one line ("" when nothing was timed): see time_line()."""
        return time_line(self.seconds)

    def rows(self) -> list[dict[str, Any]]:
        """Every config tried, in the order tried, as plain rows (ConfigResult.row)."""
        return [r.row() for r in self.results]


_PARTS = {"original": "original", "screen": "screen", "verify": "verify", "rewritten": "rewritten check",
          "ab": "A/B", "check": "check"}  # TuneReport.seconds keys as a report says them, in run order


def time_line(seconds: dict[str, float]) -> str:
    """A tuner's seconds as one line: "screen 12.0 s (timed 1.5 s, compiled ahead 6.3 s), verify 6.6 s, ..."."""
    out = []
    for key, name in _PARTS.items():
        if key not in seconds:
            continue
        part = f"{name} {seconds[key]:.1f} s"
        if key == "screen" and ("screen.timed" in seconds or "screen.ahead" in seconds):
            part += (f" (timed {seconds.get('screen.timed', 0.0):.1f} s, compiled ahead "
                     f"{seconds.get('screen.ahead', 0.0):.1f} s)")
        out.append(part)
    return ", ".join(out)


def _fmt_ms(ms: float | None) -> str:
    return "no figure" if ms is None else f"{ms:.4g} ms"


def _ms(result: EvalResult) -> float | None:
    return result.timing.median_ms if result.timing is not None else None


def plans_for(analysis: Analysis, stage: str) -> TunePlan:
    """The stage's plan; for "launch", a kernel whose tile sizes are chosen at run time gets advanced_memory's
    plan (warps and stages only), so it is still tuned where it safely can be."""
    plan = make_plan(analysis, stage)
    if stage != LAUNCH_STAGE or not plan.skipped:
        return plan
    fallback = make_plan(analysis, "advanced_memory")
    kept: list[tuple[str, str]] = []
    for kernel, why in plan.skipped:
        alt = next((p for p in fallback.kernels if p.kernel == kernel), None)
        if alt is None:
            kept.append((kernel, why))
        else:
            plan.kernels.append(alt)
            kept.append((kernel, f"tile sizes left alone: {why}"))
    plan.skipped = kept
    return plan


def _usable_plans(analysis: Analysis, plans: list[KernelPlan], settings: TuneSettings,
                  skipped: list[tuple[str, str]]) -> list[KernelPlan]:
    """Plans whose rewrite works on the original configs (the grid follows the BLOCK, ...)."""
    out = []
    for p in plans:
        while True:
            try:
                rewrite.freeze(analysis, [p], {p.kernel: p.centres[0]})
                if not settings.freeze:
                    if p.autotune_problem and settings.dry_run:  # no winner to launch it at instead
                        raise RewriteError(f"{p.autotune_problem}; a dry run picks no config to launch it at")
                    rewrite.autotune(analysis, [p], {p.kernel: list(p.centres)}, frozen={p.kernel: p.centres[0]})
            except GridDoesNotFollow as exc:
                if exc.name not in p.block_names:
                    skipped.append((p.kernel, str(exc)))
                    break
                # That tile size stays as written; the kernel's other settings are still searched.
                left = tuple(b for b in p.block_names if b != exc.name)
                p = dataclasses.replace(p, block_names=left, notes=(*p.notes, f"{exc.name} left as written: {exc}"))
                if p.autotuned and not p.blocks_at_launch:  # the value comes from the kernel's own configs
                    values = sorted({v for c in p.centres if (v := c.meta_dict.get(exc.name)) is not None})
                    if len(values) > 1:  # the list itself launches a wrong program count for some configs
                        skipped.append((p.kernel, f"{exc}; its autotune configs set {exc.name} to "
                                                  f"{', '.join(map(str, values))} under that one grid"))
                        break
                    continue  # one value in every config: kept there (the grid was written for it)
                # Passed at the launch: it leaves the configs, so an autotune list never sets it too.
                centres = tuple(dict.fromkeys(LaunchConfig.make(c.num_warps, c.num_stages, {
                    k: v for k, v in c.meta if k != exc.name}) for c in p.centres))
                p = dataclasses.replace(p, centres=centres, blocks_at_launch=p.blocks_at_launch and bool(left))
                continue
            except RewriteError as exc:
                skipped.append((p.kernel, str(exc)))
                break
            if p.autotune_problem and not settings.freeze:
                p = dataclasses.replace(p, notes=(*p.notes, f"{p.kernel} is written at its winner's launch "
                                                            f"settings, not as an autotune list: {p.autotune_problem}"))
            out.append(p)
            break
    return out


class _Run:
    """One tuning run's state: the evaluator, what has been measured, and the report being filled in."""

    def __init__(self, candidate: Candidate, analysis: Analysis, evaluator: Evaluator, settings: TuneSettings,
                 report: TuneReport, t0: float, clock: Clock = time.monotonic,
                 say: Callable[[str], None] = _quiet) -> None:
        self.candidate, self.analysis, self.evaluator = candidate, analysis, evaluator
        self.settings, self.report, self.t0, self.clock, self.say = settings, report, t0, clock, say
        self.batches = 0
        self.screened = 0  # configs screened so far: with report.seconds["screen"], the pace of the next ones

    def variant(self, source: str) -> Candidate:
        return Candidate(source=source, origin=f"tune:{self.settings.stage}", parent=self.candidate.id)

    def _variants(self, plan: KernelPlan, configs: list[LaunchConfig]) -> list[Candidate]:
        return [self.variant(rewrite.freeze(self.analysis, [plan], {plan.kernel: c})) for c in configs]

    def _spent(self, what: str, t: float) -> None:
        self.report.seconds[what] = round(self.report.seconds.get(what, 0.0) + self.clock() - t, 3)

    def over_budget(self, next_configs: int = 0) -> bool:
        """Past the search's share of the budget, or would be after screening `next_configs` more at the pace of
        those screened so far (a chunk of Inductor reductions costs ~13 s on an H200: started just inside the
        share, conv_mish_bn's third chunk ran its race pass 10 s past it)."""
        spent = self.report.seconds.get("screen", 0.0)
        ahead = spent / self.screened * next_configs if self.screened else 0.0
        return self.clock() - self.t0 + ahead > self.settings.budget_s * SEARCH_SHARE

    def budget_words(self) -> str:
        s = self.settings.budget_s
        return f"{s * SEARCH_SHARE:g} s of the {s:g} s budget (the rest is for the full checks)"

    def screen(self, plan: KernelPlan, configs: list[LaunchConfig], phase: str) -> list[ConfigResult]:
        """Compile and time each config, unchecked, in one session."""
        self.batches += 1
        self.say(f"{plan.kernel}: screening {len(configs)} {phase} configs")
        t = self.clock()
        variants = self._variants(plan, configs)
        results = self.evaluator.screen_many(variants, self.cutoff_ms())
        self._spent("screen", t)
        self.screened += len(configs)
        self._where_screen_went(phase, results, self.clock() - t)
        out = []
        for config, result in zip(configs, results, strict=True):
            ms = _ms(result)
            r = ConfigResult(plan.kernel, config, config in plan.centres, result.status.value, result.reason,
                             ms, self.batches, phase, screen_ms=ms)
            if r.ok and ms is None:
                r.status, r.reason = "UNTIMED", result.timing_note or "the evaluator returned no timing"
            self.report.results.append(r)
            out.append(r)
        return out

    def cutoff_ms(self) -> float | None:
        """CUTOFF_FACTOR times the best median known so far (the original's, the fastest screened), or None."""
        known = [r.screen_ms for r in self.report.results if r.ok and r.screen_ms is not None]
        if self.report.original_ms is not None:
            known.append(self.report.original_ms)
        return CUTOFF_FACTOR * min(known) if known else None

    def _where_screen_went(self, phase: str, results: list[EvalResult], wall: float) -> None:
        """One note per screening session: its seconds, the configs' timing and the compiles ahead of it (the
        rest is the session: its processes, loading each config, the inputs)."""
        timed = sum(r.step_seconds.get("screen", 0.0) for r in results)
        ahead = max((r.step_seconds.get("precompile", 0.0) for r in results), default=0.0)
        for key, value in (("screen.timed", timed), ("screen.ahead", ahead)):
            self.report.seconds[key] = round(self.report.seconds.get(key, 0.0) + value, 3)
        how = next((d for r in results if (d := precompile_detail(r.notes))), "")
        self.report.notes.append(f"screen ({phase}): {len(results)} configs in {wall:.1f} s: timed {timed:.1f} s, "
                                 f"compiled ahead {ahead:.1f} s, the session's start and loads "
                                 f"{max(0.0, wall - timed - ahead):.1f} s" + (f"; compiled ahead: {how}" if how else ""))

    def check(self, plan: KernelPlan, rows: list[ConfigResult], timed: bool) -> None:
        """Evaluate configs in full, in one session: correctness on inputs the screening never saw (and a full
        timing when timed). Updates the rows: a config that fails here can never win."""
        self.say(f"{plan.kernel}: checking {len(rows)} config{'s' * (len(rows) != 1)} in full")
        t = self.clock()
        variants = self._variants(plan, [r.config for r in rows])
        seed = VERIFY_SEED_OFFSET + self.evaluator.config.seed
        results = self.evaluator.evaluate_many(variants, timed=timed, seed=seed,
                                               budget_ms=VERIFY_BUDGET_MS if timed else None)
        self._spent("verify" if timed else "check", t)
        for r, result in zip(rows, results, strict=True):
            r.verified = True
            r.status, r.reason = result.status.value, result.reason
            r.median_ms = _ms(result) if timed else None
            if r.ok and timed and r.median_ms is None:
                r.status, r.reason = "UNTIMED", result.timing_note or "the evaluator returned no timing"

    def space(self, plan: KernelPlan) -> Space:
        k = self.analysis.kernels[plan.kernel]
        kind = kernel_kind(k.node, plan.uses_dot)
        space = build_space(plan, kind, self.settings.stage, self.settings.limits)
        if {"num_warps", "num_stages"} & k.heuristics:  # @triton.heuristics owns them: leave them alone
            space = dataclasses.replace(space, axes=tuple(a for a in space.axes if a.name not in k.heuristics))
        self.report.notes.append("searched " + describe(space))
        self.report.notes.extend([*plan.notes, *space.notes])
        return space

    def search(self, plan: KernelPlan) -> list[ConfigResult] | str:
        """Coarse grid, pipeline depths, refinement; then the fastest are verified. Returns the configs that
        passed their full check (dry run: the checked grid), best first; or, when no screened config was worth
        a full check, why (no_gain)."""
        s = self.settings
        space = self.space(plan)
        grid, dropped = coarse_grid(space, list(plan.centres), cap=min(s.max_configs, 32 if space.kind == DOT
                                                                       else s.max_configs))
        self.report.dropped += [(c.label, why) for c, why in dropped]
        if s.dry_run:
            rows = [ConfigResult(plan.kernel, c, c in plan.centres, "OK", phase="dry-run")
                    for c in grid[:DRY_RUN_CONFIGS]]
            self.report.results += rows
            self.check(plan, rows, timed=False)
            return [r for r in rows if r.ok]
        seen: dict[LaunchConfig, ConfigResult] = {}

        def run(configs: list[LaunchConfig], phase: str) -> None:
            # The originals run as they are, whatever the bounds say: they are the baseline to beat.
            fresh = [c for c in dict.fromkeys(configs) if c not in seen and (
                c in plan.centres or not space.why_invalid(c))]
            fresh = fresh[:max(0, s.max_configs - len(seen))]
            for i in range(0, len(fresh), SCREEN_CHUNK):
                chunk = len(fresh[i:i + SCREEN_CHUNK])
                # a kernel's first chunk always runs (_search_all decides whether its search starts at all)
                if seen and self.over_budget(chunk):
                    # a smaller chunk of a later phase may still fit: the budget left is used, not dropped
                    done = (f"screening of {phase} configs stopped after {i} of {len(fresh)}: the next {chunk}"
                            if i else f"{len(fresh)} {phase} configs not screened: they")
                    self.report.notes.append(f"{plan.kernel}: {done} would run past {self.budget_words()}")
                    break
                for r in self.screen(plan, fresh[i:i + SCREEN_CHUNK], phase):
                    seen[r.config] = r

        def tops(n: int) -> list[LaunchConfig]:
            timed = sorted((r for r in seen.values() if r.ok and r.median_ms is not None),
                           key=lambda r: r.median_ms or 0.0)
            return [r.config for r in timed[:n]]

        run(grid, "coarse")
        if not self.over_budget():
            run(stage_sweep(space, tops(REFINE_FROM)), "stages")
        for _ in range(s.max_rounds):
            if self.over_budget():
                self.report.notes.append(f"{plan.kernel}: search stopped at {self.budget_words()}")
                break
            before = tops(1)
            run([n for c in tops(REFINE_FROM) for n in neighbours(space, c)], "refine")
            if tops(1) == before:
                break  # the best is interior: no neighbour of the best two beats it
        return self.no_gain(plan, seen) or self.verify(plan, seen)

    def no_gain(self, plan: KernelPlan, seen: dict[LaunchConfig, ConfigResult]) -> str:
        """Why no screened config is worth a full check ("" when one is): the fastest is not NO_GAIN_SHARE of
        the threshold faster than the original's config screened beside it. Nothing is said without a
        screened original (an autotune list whose configs failed to screen) or another config that screened."""
        mine = [r.screen_ms for c in plan.centres if (r := seen.get(c)) and r.ok and r.screen_ms is not None]
        others = [r for r in seen.values() if r.ok and r.screen_ms is not None and not r.original]
        if not mine or not others:
            return ""
        best, original = min(others, key=lambda r: r.screen_ms or 0.0), min(mine)
        need = self.settings.threshold * NO_GAIN_SHARE
        assert best.screen_ms is not None
        if best.screen_ms < original * (1 - need):
            return ""
        if best.screen_ms >= original:
            return (f"{plan.kernel}: the original config screened fastest ({original:.4g} ms; the next, "
                    f"{best.config.label}, {best.screen_ms:.4g} ms): nothing verified")
        return (f"{plan.kernel}: the fastest screened config ({best.config.label}, {best.screen_ms:.4g} ms) is not "
                f"{need * 100:g}% faster than the original's ({original:.4g} ms) in the screening: nothing "
                "verified")

    def verify(self, plan: KernelPlan, seen: dict[LaunchConfig, ConfigResult]) -> list[ConfigResult]:
        ranked = sorted((r for r in seen.values() if r.ok and r.median_ms is not None),
                        key=lambda r: r.median_ms or 0.0)
        k = max(1, self.settings.verify_top)
        for b in range(VERIFY_BATCHES):
            batch = ranked[b * k:(b + 1) * k]
            if not batch:
                break
            self.check(plan, batch, timed=True)
            if any(r.ok for r in batch):
                break
            self.report.notes.append(f"{plan.kernel}: the {len(batch)} fastest screened configs failed their "
                                     "full check; trying the next ones")
        passed = [r for r in seen.values() if r.verified and r.ok and r.median_ms is not None]
        return sorted(passed, key=lambda r: r.median_ms or 0.0)


def _revert(report: TuneReport, candidate: Candidate, reason: str) -> TuneReport:
    report.decision, report.reason, report.candidate = Decision.REVERT, reason, candidate
    return report


def tune(candidate: Candidate, evaluator: Evaluator, comparer: Comparer | None,
         settings: TuneSettings | None = None, clock: Clock = time.monotonic,
         original_ms: float | None = None, kernels: KernelShare | None = None,
         progress: Progress = None) -> TuneReport:
    """Tune the launches of `candidate` for one stage; the report says what was tried and why it was decided.
    `original_ms`: the candidate passed its check with this median in the caller's last evaluation (the
    pipeline's best), so a timed run does not evaluate it again (4 s of a 47 s optimize on an H200).
    `kernels`: where that evaluation's GPU time went (else the original's own evaluation says): kernels are
    searched heaviest first, and the lightest, while together under the threshold's share, not at all.
    `progress`: told, in a few words, each step as it starts (a pass takes seconds to minutes)."""
    s = settings or TuneSettings()
    t0 = clock()
    report = TuneReport(s.stage, Decision.REFUSED, "", candidate)
    try:
        report = _tune(candidate, evaluator, comparer, s, report, clock, original_ms, kernels, progress)
    finally:
        report.wall_s = round(clock() - t0, 3)
    return report


def _tune(candidate: Candidate, evaluator: Evaluator, comparer: Comparer | None, s: TuneSettings,
          report: TuneReport, clock: Clock = time.monotonic, original_ms: float | None = None,
          kernels: KernelShare | None = None, progress: Progress = None) -> TuneReport:
    """Plans, the original's check, the search per kernel, the rewrite and its check, then the decision."""
    say = progress or _quiet
    prepared = _prepare(candidate, comparer, s, report)
    if prepared is None:
        return report
    analysis, plans = prepared
    if original_ms is not None and not s.dry_run:
        report.original_ms = original_ms
        report.notes.append(f"original: {original_ms:.4g} ms from the run's last evaluation of it (checked there)")
    else:
        say("checking the original")
        t = clock()
        original = evaluator.evaluate(candidate, timed=not s.dry_run)
        report.seconds["original"] = round(clock() - t, 3)
        if not original.ok:
            report.reason = f"the original candidate fails its check ({original.status.value}: {original.reason})"
            return report
        report.original_ms = _ms(original)
        kernels = kernels or original.kernels
    if not s.dry_run:
        plans = _by_weight(plans, kernels, s.threshold, report)
        if not plans:
            report.reason = ("nothing worth tuning: " + "; ".join(f"{k}: {r}" for k, r in report.skipped))
            return report
    run = _Run(candidate, analysis, evaluator, s, report, clock(), clock, say)
    found = _search_all(run, plans)
    if found.missing:
        return _revert(report, candidate, f"no config of {found.missing} passed its check")
    plans = [p for p in plans if p.kernel not in found.unsearched and p.kernel not in found.no_gain]
    if not plans:  # nothing to rewrite: every kernel screened no faster than as written (or was not reached)
        return _revert(report, candidate, "; ".join(found.no_gain.values()) or "no kernel was searched")
    try:
        source = _rewritten(analysis, plans, report.winners, found.configs, s.freeze)
    except RewriteError as exc:
        return _revert(report, candidate, f"rewrite failed: {exc}")
    tuned = run.variant(source)
    say("checking the rewritten code")
    t = clock()
    checked = evaluator.evaluate(tuned, timed=not s.dry_run)
    report.seconds["rewritten"] = round(clock() - t, 3)
    if not checked.ok:
        return _revert(report, candidate, f"the rewritten code fails its check ({checked.status.value}: "
                       f"{checked.reason})")
    report.tuned_ms, report.tuned_kernels = _ms(checked), checked.kernels
    return _decide(candidate, tuned, comparer, s, report, plans, found, clock, say)


def _prepare(candidate: Candidate, comparer: Comparer | None, s: TuneSettings, report: TuneReport
             ) -> tuple[Analysis, list[KernelPlan]] | None:
    """The analysis and the plans that can be rewritten safely; None (the report says why) when there are none."""
    if s.freeze and s.dry_run:
        report.reason = "--freeze needs timing to pick a winner; --dry-run does not time"
        return None
    if not s.dry_run and comparer is None:
        raise ValueError("a timed tuning run needs a comparer")
    try:
        analysis = analyse(candidate.source)
    except SyntaxError as exc:
        report.reason = f"the candidate does not parse (line {exc.lineno}: {exc.msg})"
        return None
    plan = plans_for(analysis, s.stage)
    report.skipped = list(plan.skipped)
    plans = _usable_plans(analysis, plan.kernels, s, report.skipped)
    if not plans:
        why = "; ".join(f"{k}: {r}" for k, r in report.skipped) or "no @triton.jit kernel"
        report.reason = f"nothing to tune safely, code left unchanged ({why})"
        return None
    return analysis, plans


def _by_weight(plans: list[KernelPlan], kernels: KernelShare | None, threshold: float, report: TuneReport
               ) -> list[KernelPlan]:
    """The plans heaviest kernel first (a budget that runs out leaves the light ones as written), without the
    lightest kernels whose GPU time together is under `threshold` of the forward's: no launch of theirs, even
    one taking no time at all, could make the forward faster by the threshold. Kernels the profile did not
    see keep their place after the rest. Unchanged when no per-kernel times are known."""
    if kernels is None or not kernels.triton_kernel_ms:
        return plans
    total = (kernels.triton_time_ms or 0.0) + (kernels.other_time_ms or 0.0)
    if total <= 0:
        return plans
    ms = {p.kernel: kernels.triton_kernel_ms[p.kernel] for p in plans if p.kernel in kernels.triton_kernel_ms}
    seen = sorted((p for p in plans if p.kernel in ms), key=lambda p: -ms[p.kernel])
    light: list[KernelPlan] = []
    together = 0.0  # the GPU ms of the kernels in `light`
    for p in reversed(seen):  # the lightest first, while they stay under the threshold together
        if (together + ms[p.kernel]) / total >= threshold:
            break
        light.append(p)
        together += ms[p.kernel]
    for p in light:
        report.skipped.append((p.kernel, f"{ms[p.kernel]:.3g} ms of the forward's {total:.3g} ms of GPU time "
                                         f"(with the other kernels left alone, {together / total * 100:.1f}%, under "
                                         f"the {threshold * 100:g}% threshold): no launch of it could clear it"))
    out = [p for p in seen if p not in light] + [p for p in plans if p.kernel not in ms]
    if len(plans) > 1:
        report.notes.append("kernels by GPU time in one forward: " + ", ".join(
            f"{p.kernel} {ms[p.kernel]:.3g} ms" if p.kernel in ms else f"{p.kernel} (not seen)" for p in out)
            + (f"; left alone: {', '.join(p.kernel for p in light)}" if light else ""))
    return out


@dataclass
class _Found:
    """What the search of every kernel found."""

    configs: dict[str, list[ConfigResult]] = field(default_factory=dict)  # kernel -> passed, originals first
    best_ms: dict[str, float | None] = field(default_factory=dict)  # kernel -> its winner's full-timing median
    missing: str = ""  # a kernel none of whose configs passed (the search stops there)
    unsearched: list[str] = field(default_factory=list)  # kernels the budget left as written
    no_gain: dict[str, str] = field(default_factory=dict)  # kernels left as written: nothing screened faster


def _search_all(run: _Run, plans: list[KernelPlan]) -> _Found:
    """Search each kernel; the winners go into the report (timed runs), every passing config into `configs`.
    Once the budget is spent, later kernels keep their launches as written (the first is always searched)."""
    found = _Found()
    for i, p in enumerate(plans):
        if i and not run.settings.dry_run and run.over_budget():
            found.unsearched.append(p.kernel)
            run.report.notes.append(f"{p.kernel}: not searched, kept as written: the kernels before it used "
                                    f"{run.budget_words()}")
            continue
        results = run.search(p)
        if isinstance(results, str):  # nothing screened faster: left as written
            found.no_gain[p.kernel] = results
            run.report.notes.append(results)
            continue
        if not results:
            found.missing = p.kernel
            return found
        if not run.settings.dry_run:
            run.report.winners[p.kernel], found.best_ms[p.kernel] = results[0].config, results[0].median_ms
            results[0].chosen = True
        # autotune lists the originals first (the original's own evaluation checked them), then the verified
        originals = [ConfigResult(p.kernel, c, True, "OK", "the original code's config", run.report.original_ms)
                     for c in p.centres if c not in {r.config for r in results}]
        found.configs[p.kernel] = sorted([*results, *originals], key=lambda r: (not r.original, r.median_ms or 0.0))
    return found


def _rewritten(analysis: Analysis, plans: list[KernelPlan], winners: dict[str, LaunchConfig],
               passing: dict[str, list[ConfigResult]], freeze: bool) -> str:
    """The source with the winners frozen in, or with an autotune list of every passing config."""
    notes = {r.config: ", ".join(x for x in ("original" if r.original else "",
                                             f"{r.median_ms:.4g} ms" if r.median_ms is not None else "") if x)
             for rs in passing.values() for r in rs}
    if freeze:
        return rewrite.freeze(analysis, plans, winners)
    return rewrite.autotune(analysis, plans, {k: [r.config for r in rs] for k, rs in passing.items()}, notes,
                            frozen=winners)


def _decide(candidate: Candidate, tuned: Candidate, comparer: Comparer | None, s: TuneSettings, report: TuneReport,
            plans: list[KernelPlan], found: _Found, clock: Clock,
            say: Callable[[str], None] = _quiet) -> TuneReport:
    """CHECKED on a dry run; else KEEP only when an A/B comparison finds the tuned code significantly faster."""
    if s.dry_run:
        report.decision, report.candidate = Decision.CHECKED, tuned
        report.reason = (f"{sum(len(v) for v in found.configs.values())} configs passed their checks; "
                         "not timed (--dry-run)")
        return report
    if all(len(p.centres) == 1 and report.winners.get(p.kernel) == p.centres[0] for p in plans):
        return _revert(report, candidate, "the original config is the fastest measured")
    best = found.best_ms.get(plans[0].kernel)
    if best is not None and report.original_ms is not None and len(plans) == 1 and \
            best > report.original_ms * (1 - s.threshold / 2):
        # Gains under half the threshold in full timings never clear the threshold in an A/B: skip it.
        return _revert(report, candidate, f"the best checked config ({report.winners[plans[0].kernel].label}, "
                       f"{best:.4g} ms) is not faster than the original ({report.original_ms:.4g} ms) by "
                       f"{s.threshold / 2 * 100:g}%: no A/B needed")
    if not s.ab:
        if report.tuned_ms is None or report.original_ms is None or report.tuned_ms >= report.original_ms:
            # the caller races the better of the two: never a tuned code its own full timing puts behind
            return _revert(report, candidate, f"the tuned code ({_fmt_ms(report.tuned_ms)} in its full timing) is "
                           f"not faster than the original ({_fmt_ms(report.original_ms)})")
        report.decision, report.candidate = Decision.KEEP, tuned
        report.reason = (f"tuned code checked and timed in full ({_fmt_ms(report.tuned_ms)}; the original "
                         f"{_fmt_ms(report.original_ms)}); no A/B against the original: the caller's A/B decides")
        return report
    assert comparer is not None
    t = clock()
    try:
        say("A/B timing against the original")
        cmp = comparer.compare(candidate, tuned, s.threshold)
    except TaskError as exc:  # the harness could not time the pair: no evidence of a gain, keep the original
        return _revert(report, candidate, f"the A/B comparison failed: {exc}")
    finally:
        report.seconds["ab"] = round(clock() - t, 3)
    report.comparison = cmp
    if cmp.significant and cmp.speedup >= 1 + s.threshold:
        report.decision, report.candidate, report.reason = Decision.KEEP, tuned, f"kept: {cmp.reason}"
        return report
    return _revert(report, candidate, f"reverted: {cmp.reason}")
