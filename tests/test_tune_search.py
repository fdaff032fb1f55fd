"""Keep/revert logic of the tuner with a fake evaluator and a fake A/B timer (no GPU, no child processes)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult, KernelShare, Status, TimingStats
from tritonwright.tune.analysis import analyse
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.search import VERIFY_BUDGET_MS, Decision, TuneSettings, tune

FIXTURES = Path(__file__).parent / "fixtures" / "tune"
MISH = (FIXTURES / "mish_size_branch.py").read_text()
KERNEL = "fused_activation_kernel_optimized"


def launch_configs(source: str, kernel: str = KERNEL) -> list[LaunchConfig]:
    """The configs a source runs: its autotune list, or its one launch's (num_warps, num_stages, BLOCK_SIZE)."""
    k = analyse(source).kernels[kernel]
    if k.autotune is not None:
        return k.autotune.configs
    s = k.sites[0].settings
    meta = {"BLOCK_SIZE": s["BLOCK_SIZE"].values[0]} if kernel == "relu_kernel" else {}
    return [LaunchConfig.make(s["num_warps"].values[0], s["num_stages"].values[0], meta)]


class FakeEvaluator:
    """Times from a function of the launched config; an autotuned source runs its fastest config.
    `broken` configs fail their full check; screening (unchecked) still times them, as the GPU would."""

    config = EvalConfig()  # the input seed the tuner offsets for its verification

    def __init__(self, times, broken=frozenset(), kernel: str = KERNEL) -> None:
        self.times = times if callable(times) else (lambda c: times[(c.num_warps, c.num_stages)])
        self.broken, self.kernel = broken, kernel
        self.calls = self.screened = 0
        self.checked: list[LaunchConfig] = []
        self.cutoffs: list[float | None] = []  # the cutoff each screening call was given
        self.budgets: list[float | None] = []  # each evaluate_many's timing budget (None: the config's)

    def configs(self, source: str) -> list[LaunchConfig]:
        return launch_configs(source, self.kernel)

    def ms(self, source: str) -> float:
        return min(self.times(c) for c in self.configs(source))

    def _bad(self, source: str) -> bool:
        cs = self.configs(source)
        return len(cs) == 1 and _key(cs[0]) in self.broken

    def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
        self.calls += 1
        if len(self.configs(candidate.source)) == 1:
            self.checked.append(self.configs(candidate.source)[0])
        if self._bad(candidate.source):
            return EvalResult(status=Status.MISMATCH, reason="output 0: 12 elements out of tolerance")
        ms = self.ms(candidate.source)
        timing = TimingStats.from_samples([ms] * 5, "fake") if timed else None
        kernels = KernelShare(triton_time_ms=ms, other_time_ms=0.0, triton_kernel_ms={self.kernel: ms})
        return EvalResult(status=Status.OK, timing=timing, kernels=kernels if timed else None)

    def evaluate_many(self, candidates: list[Candidate], timed: bool, seed: int | None = None,
                      budget_ms: float | None = None) -> list[EvalResult]:
        self.budgets.append(budget_ms)
        return [self.evaluate(c, timed) for c in candidates]

    def screen_many(self, candidates: list[Candidate], cutoff_ms: float | None = None) -> list[EvalResult]:
        self.screened += len(candidates)
        self.cutoffs.append(cutoff_ms)
        return [EvalResult(status=Status.OK, timing=TimingStats.from_samples([self.ms(c.source)] * 3, "fake"))
                for c in candidates]


def _key(c: LaunchConfig):
    return (c.num_warps, c.num_stages) if not c.meta else (c.meta_dict.get("BLOCK_SIZE"), c.num_warps)


class FakeComparer:
    """Interleaved rounds around the true times with +-`jitter` relative noise; decision as the harness's."""

    def __init__(self, evaluator: FakeEvaluator, jitter: float, rounds: int = 10) -> None:
        self.evaluator, self.jitter, self.rounds = evaluator, jitter, rounds
        self.calls = 0

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        self.calls += 1
        rng = random.Random(7)
        ta, tb = self.evaluator.ms(a.source), self.evaluator.ms(b.source)
        logs = sorted(math.log(ta / tb) + rng.uniform(-self.jitter, self.jitter) for _ in range(self.rounds))
        center = logs[len(logs) // 2]
        half = self.jitter  # a band as wide as the jitter: the worst case the rounds allow
        speedup = math.exp(center)
        significant = center - half >= math.log1p(threshold)
        return Comparison(speedup=speedup, noise=math.exp(half) - 1, significant=significant,
                          threshold=threshold, rounds=self.rounds, reason=f"{(speedup - 1) * 100:+.1f}%")


def table(best: tuple[int, int], gain: float) -> dict[tuple[int, int], float]:
    """Every pair at 0.359 ms except `best`, faster by `gain` (0.359 -> 0.340 is the issue's 5.3%)."""
    t = {(w, s): 0.359 for w in (1, 2, 4, 8, 16, 32) for s in (1, 2, 3, 4, 5)}
    t[best] = 0.359 / (1 + gain)
    return t


def run(times, jitter: float = 0.002, freeze: bool = True, broken=frozenset(), source: str = MISH,
        kernel: str = KERNEL, **settings):
    ev = FakeEvaluator(times, broken, kernel)
    report = tune(Candidate(source), ev, FakeComparer(ev, jitter), TuneSettings(freeze=freeze, **settings))
    return report, ev


def test_a_clear_gain_is_kept_and_frozen() -> None:
    report, _ = run(table((8, 3), 0.056))
    assert report.decision is Decision.KEEP, report.reason
    assert report.winners[KERNEL] == LaunchConfig(8, 3)
    assert "num_warps=8" in report.candidate.source and report.candidate.source != MISH
    assert report.comparison is not None and report.comparison.significant


def test_each_step_of_a_pass_is_told_as_it_starts() -> None:
    """What `tritonwright tune` shows while a pass runs (minutes on a GPU): the original's check, each screening,
    the full checks, the rewritten code's check and the A/B, in order."""
    ev = FakeEvaluator(table((8, 3), 0.056))
    steps: list[str] = []
    report = tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True), progress=steps.append)
    assert report.decision is Decision.KEEP
    assert steps[0] == "checking the original" and steps[-2:] == ["checking the rewritten code",
                                                                  "A/B timing against the original"]
    screens = [x for x in steps if "screening" in x]
    assert screens and screens[0].startswith(f"{KERNEL}: screening ") and screens[0].endswith(" coarse configs")
    assert any(x.startswith(f"{KERNEL}: checking ") and x.endswith(" in full") for x in steps)
    assert len(steps) == 3 + len(screens) + sum("in full" in x for x in steps)


def test_only_the_verification_of_screened_configs_times_briefly() -> None:
    """The verified configs are timed on VERIFY_BUDGET_MS (a ranking: the A/B decides); a dry run's checks are
    not timed at all, so they ask for no budget; the rewritten code's check (evaluate) keeps the full timing."""
    report, ev = run(table((8, 3), 0.056))
    assert report.decision is Decision.KEEP and ev.budgets == [VERIFY_BUDGET_MS]
    dry = FakeEvaluator(table((8, 3), 0.06))
    tune(Candidate(MISH), dry, None, TuneSettings(dry_run=True))
    assert dry.budgets == [None]


def test_a_screened_gain_below_half_the_threshold_verifies_nothing() -> None:
    """The fastest screened config 0.5% ahead of the original (the threshold is 2%): no full check, no rewritten
    code, no A/B; the reason names the figures."""
    report, ev = run(table((8, 3), 0.005))
    assert report.decision is Decision.REVERT and report.comparison is None
    assert report.candidate.source == MISH  # unchanged, byte for byte
    assert ev.budgets == [] and ev.calls == 1  # only the original's evaluation
    assert "is not 1% faster than the original's (0.359 ms) in the screening: nothing verified" in report.reason
    assert not any(r.verified for r in report.results) and "rewritten" not in report.seconds


def test_a_gain_the_full_timings_put_below_half_the_threshold_is_reverted_without_an_ab_run() -> None:
    """Screened 5% ahead, verified 0.5% ahead: the full figures decide, and no A/B is run."""
    times = table((8, 3), 0.05)

    class Closer(FakeEvaluator):
        def evaluate_many(self, candidates: list[Candidate], timed: bool, seed: int | None = None,
                          budget_ms: float | None = None) -> list[EvalResult]:
            results = super().evaluate_many(candidates, timed, seed, budget_ms)
            for r in results:
                if r.timing is not None and r.timing.median_ms < 0.359:
                    r.timing = TimingStats.from_samples([0.359 / 1.005] * 5, "fake")
            return results

    ev = Closer(times)
    report = tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True))
    assert report.decision is Decision.REVERT and report.comparison is None
    assert "no A/B needed" in report.reason and ev.budgets == [VERIFY_BUDGET_MS]


def test_a_gain_below_the_threshold_is_reverted_by_the_ab_run() -> None:
    report, _ = run(table((8, 3), 0.015))
    assert report.decision is Decision.REVERT
    assert report.comparison is not None and not report.comparison.significant


def test_a_gain_within_noise_is_reverted() -> None:
    report, _ = run(table((8, 3), 0.03), jitter=0.05)  # 3% gain, +-5% noise
    assert report.decision is Decision.REVERT, report.reason
    assert report.candidate.source == MISH


def test_the_original_winning_is_reverted_without_an_ab_run() -> None:
    report, ev = run(table((4, 3), 0.05))
    assert report.decision is Decision.REVERT and report.comparison is None
    assert "the original config screened fastest (0.3419 ms; the next" in report.reason and ev.budgets == []


def test_refinement_reaches_a_value_outside_the_coarse_grid() -> None:
    t = table((32, 3), 0.06)  # 32 warps is not in the coarse grid (2-16): refinement steps there from 16
    t[(16, 3)] = 0.352  # a slope towards 32 warps
    report, _ = run(t)
    assert report.winners[KERNEL] == LaunchConfig(32, 3), report.reason
    phases = {r.config: r.phase for r in report.results}
    assert phases[LaunchConfig(16, 3)] == "coarse" and phases[LaunchConfig(32, 3)] == "refine"
    assert report.decision is Decision.KEEP


def test_a_kernel_without_a_loop_keeps_its_num_stages() -> None:
    report, _ = run(table((8, 3), 0.06))
    assert {r.config.num_stages for r in report.results} == {3}
    assert any("no loop" in n for n in report.notes)


def test_a_fast_config_that_fails_its_check_can_never_win() -> None:
    t = table((8, 3), 0.06)
    t[(16, 3)] = 0.300  # screens fastest of all, but computes the wrong thing
    report, ev = run(t, broken={(16, 3)})
    bad = next(r for r in report.results if r.config == LaunchConfig(16, 3))
    assert bad.verified and bad.status == "MISMATCH"
    assert report.winners[KERNEL] == LaunchConfig(8, 3) and report.decision is Decision.KEEP
    winner = next(r for r in report.results if r.config == LaunchConfig(8, 3))
    assert winner.verified and winner.ok  # every config that could be chosen was checked in full
    assert ev.screened >= 4 and LaunchConfig(16, 3) in ev.checked


def test_when_the_fastest_batch_fails_the_next_configs_are_verified() -> None:
    t = table((8, 3), 0.06)
    for w in (1, 2, 16):  # the three fastest screened configs all fail their full check
        t[(w, 3)] = 0.30 + w / 1000
    report, _ = run(t, broken={(1, 3), (2, 3), (16, 3)})
    assert report.winners[KERNEL] == LaunchConfig(8, 3), report.reason
    assert any("failed their full check" in n for n in report.notes)


def test_autotune_output_lists_only_configs_that_passed() -> None:
    t = table((2, 3), 0.06)
    t[(16, 3)] = 0.33
    report, _ = run(t, freeze=False, broken={(16, 3)})
    assert report.decision is Decision.KEEP, report.reason
    configs = launch_configs(report.candidate.source)
    assert LaunchConfig(16, 3) not in configs and LaunchConfig(2, 3) in configs
    assert configs[0] == LaunchConfig(4, 3)  # the original first, marked as such
    assert "# original" in report.candidate.source


def test_dry_run_checks_without_timing_or_comparing() -> None:
    ev = FakeEvaluator(table((8, 3), 0.06))
    report = tune(Candidate(MISH), ev, None, TuneSettings(dry_run=True))
    assert report.decision is Decision.CHECKED
    assert all(r.median_ms is None for r in report.results) and report.comparison is None
    assert ev.screened == 0 and "@triton.autotune(" in report.candidate.source


def test_refusal_leaves_the_code_unchanged_and_says_why() -> None:
    source = (FIXTURES / "refuse_loop_launch.py").read_text()
    ev = FakeEvaluator({})
    report = tune(Candidate(source), ev, None, TuneSettings(dry_run=True))
    assert report.decision is Decision.REFUSED and report.candidate.source == source
    assert "inside a loop" in report.reason and ev.calls == 0


def test_a_failing_original_is_refused() -> None:
    report, _ = run(table((8, 3), 0.06), broken={(4, 3)})
    assert report.decision is Decision.REFUSED and "original candidate fails" in report.reason


def test_the_launch_stage_searches_tile_sizes_and_warps_together() -> None:
    relu = (FIXTURES / "relu_keywords.py").read_text()  # BLOCK_SIZE=256, num_warps=8

    def times(c: LaunchConfig) -> float:  # best at BLOCK_SIZE=2048 with 4 warps: two axes must move
        b = c.meta_dict["BLOCK_SIZE"]
        return 1.0 + abs(math.log2(b / 2048)) * 0.1 + abs(math.log2(c.num_warps / 4)) * 0.05

    report, ev = run(times, source=relu, kernel="relu_kernel", stage="launch")
    assert report.winners["relu_kernel"] == LaunchConfig.make(4, 3, {"BLOCK_SIZE": 2048}), report.reason
    assert report.decision is Decision.KEEP and "BLOCK_SIZE=2048" in report.candidate.source
    assert {r.phase for r in report.results} >= {"coarse"}


def test_the_launch_stage_still_tunes_warps_when_tiles_are_chosen_at_run_time() -> None:
    softmax = (FIXTURES / "softmax_rows.py").read_text()  # BLOCK_SIZE = next_power_of_2(n_cols)
    report, _ = run(lambda c: 1.0 / c.num_warps, source=softmax, kernel="softmax_kernel", stage="launch")
    assert report.winners["softmax_kernel"].num_warps == 32, report.reason
    assert any("tile sizes left alone" in why for _, why in report.skipped)


def test_the_budget_stops_after_the_coarse_grid() -> None:
    t = table((32, 3), 0.06)
    t[(16, 3)] = 0.352
    report, _ = run(t, budget_s=0.0)
    assert {r.phase for r in report.results} == {"coarse"}
    assert any("budget" in n for n in report.notes)


class FailingComparer:
    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        raise TaskError("A/B comparison failed (RUNTIME_ERROR): boom")


def test_a_failed_comparison_reverts_with_its_reason() -> None:
    ev = FakeEvaluator(table((8, 3), 0.06))
    report = tune(Candidate(MISH), ev, FailingComparer(), TuneSettings(freeze=True))
    assert report.decision is Decision.REVERT and report.candidate.source == MISH
    assert "boom" in report.reason


def _launch_plans(path: Path):
    from tritonwright.tune.search import _usable_plans, plans_for

    analysis = analyse(path.read_text())
    skipped: list[tuple[str, str]] = []
    return _usable_plans(analysis, plans_for(analysis, "launch").kernels, TuneSettings(stage="launch"), skipped), \
        skipped


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_a_matmul_loop_step_need_not_follow_the_grid() -> None:
    plans, skipped = _launch_plans(EXAMPLES / "matmul_fp16" / "candidate.py")
    assert not skipped and len(plans) == 1
    assert set(plans[0].block_names) >= {"BLOCK_M", "BLOCK_N", "BLOCK_K"}  # BLOCK_K: the K loop's step


def test_tiles_a_hard_coded_grid_ignores_stay_and_the_rest_is_searched() -> None:
    from tritonwright.tune.space import DOT, build_space, kernel_kind

    plans, skipped = _launch_plans(EXAMPLES / "gemm_bias_relu" / "candidate.py")
    assert not skipped and len(plans) == 1
    p = plans[0]
    assert "BLOCK_M" not in p.block_names and "BLOCK_N" not in p.block_names and "BLOCK_K" in p.block_names
    assert any("BLOCK_M left as written" in n for n in p.notes)
    analysis = analyse((EXAMPLES / "gemm_bias_relu" / "candidate.py").read_text())
    space = build_space(p, kernel_kind(analysis.kernels[p.kernel].node, p.uses_dot), "launch", TuneSettings().limits)
    assert space.kind == DOT and {a.name for a in space.axes} == {"BLOCK_K", "num_warps", "num_stages"}


def test_dot_bounds_count_the_output_tile_and_the_staged_operands() -> None:
    from tritonwright.tune.space import DOT, Space

    space = Space("mm", DOT, (), (), ("BLOCK_K", "BLOCK_M", "BLOCK_N"), smem_bytes=232448)

    def cfg(m: int, n: int, k: int, warps: int, stages: int) -> LaunchConfig:
        return LaunchConfig.make(warps, stages, {"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k})

    assert space.why_invalid(cfg(128, 128, 32, 4, 4)) is None  # the K step is not part of the register tile
    assert "accumulators per thread" in space.why_invalid(cfg(256, 256, 32, 4, 3))
    assert space.why_invalid(cfg(256, 256, 32, 16, 3)) is None
    assert "shared memory" in space.why_invalid(cfg(256, 256, 128, 16, 4))


def test_the_original_config_is_screened_even_outside_the_bounds() -> None:
    source = (EXAMPLES / "matmul_fp16" / "candidate.py").read_text()
    ev = FakeEvaluator(lambda c: 1.0, kernel="matmul_kernel")
    ev.configs = lambda src: [LaunchConfig.make(4, 4, {"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32})]
    report = tune(Candidate(source), ev, FakeComparer(ev, 0.001), TuneSettings(stage="launch", freeze=True))
    originals = [r for r in report.results if r.original]
    assert originals and originals[0].phase == "coarse" and originals[0].screen_ms is not None


def test_a_known_original_median_is_not_evaluated_again_when_timed() -> None:
    """The pipeline passes its best's median (checked in its last evaluation): the tuner does not evaluate it
    again; a dry run (CPU) still checks it, where nothing was timed."""
    times = table((8, 3), 0.056)
    ev = FakeEvaluator(times)
    report = tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True), original_ms=0.359)
    assert report.decision is Decision.KEEP and report.original_ms == 0.359 and "original" not in report.seconds
    again = FakeEvaluator(times)
    tune(Candidate(MISH), again, FakeComparer(again, 0.002), TuneSettings(freeze=True))
    assert ev.calls == again.calls - 1  # one evaluation fewer: the original's
    assert any("from the run's last evaluation" in n for n in report.notes)
    dry = FakeEvaluator(times)
    report = tune(Candidate(MISH), dry, None, TuneSettings(dry_run=True), original_ms=0.359)
    assert "original" in report.seconds and report.original_ms is None


def test_past_the_budget_later_kernels_keep_their_launches_as_written() -> None:
    """A budget of 0 s: the first kernel's coarse grid still runs (it always does), the second kernel is left
    as written, and the note says why."""
    source = (FIXTURES / "two_kernels.py").read_text()
    ev = FakeEvaluator(table((8, 3), 0.056), kernel="add_kernel")
    report = tune(Candidate(source), ev, FakeComparer(ev, 0.002),
                  TuneSettings(stage="advanced_memory", freeze=True, budget_s=0.0))
    assert report.decision is Decision.KEEP, report.reason
    assert set(report.winners) == {"add_kernel"} and {r.kernel for r in report.results} == {"add_kernel"}
    assert any(n.startswith("scale_kernel: not searched, kept as written") for n in report.notes)
    assert "BLOCK=128, num_warps=2)" in report.candidate.source  # scale_kernel's launch, byte for byte
    assert "num_warps=8" in report.candidate.source


def test_a_kernel_whose_screen_finds_nothing_faster_is_left_as_written_beside_one_that_gains() -> None:
    """add_kernel screens 5.6% faster at warps=8; scale_kernel's configs all screen as its own: only add_kernel's
    winners are verified and written, scale_kernel keeps its launch, and the note says why."""
    source = (FIXTURES / "two_kernels.py").read_text()
    ev = FakeEvaluator(table((8, 3), 0.056), kernel="add_kernel")
    report = tune(Candidate(source), ev, FakeComparer(ev, 0.002), TuneSettings(stage="advanced_memory", freeze=True))
    assert report.decision is Decision.KEEP, report.reason
    assert set(report.winners) == {"add_kernel"}
    assert {r.kernel for r in report.results if r.verified} == {"add_kernel"}
    assert any(n.startswith("scale_kernel: the original config screened fastest") for n in report.notes)
    assert "BLOCK=128, num_warps=2)" in report.candidate.source and "num_warps=8" in report.candidate.source


def test_past_the_budget_no_new_screening_session_starts() -> None:
    """The coarse grid is screened SCREEN_CHUNK configs at a time; with the budget spent after the first
    session, the rest of the grid is not screened and the note says how far it got."""
    from tritonwright.tune.search import SCREEN_CHUNK

    times = table((8, 3), 0.056)
    full = FakeEvaluator(times)
    tune(Candidate(MISH), full, FakeComparer(full, 0.002), TuneSettings(stage="launch", freeze=True))
    assert full.screened > SCREEN_CHUNK  # the launch space of this kernel needs more than one session
    cut = FakeEvaluator(times)
    report = tune(Candidate(MISH), cut, FakeComparer(cut, 0.002),
                  TuneSettings(stage="launch", freeze=True, budget_s=0.0))
    assert cut.screened == SCREEN_CHUNK
    assert any(f"screening of coarse configs stopped after {SCREEN_CHUNK} of" in n and "would run past 0 s of the 0 s "
               "budget (the rest is for the full checks)" in n for n in report.notes)


def test_screening_leaves_the_rest_of_the_budget_to_the_full_checks() -> None:
    """Nothing new is screened past SEARCH_SHARE of the budget: a chunk that took 40 s of a 60 s budget is
    the last one (before, the next started until 60 s were spent, and the checks ran past the budget)."""
    from tests.fakes import FakeClock
    from tritonwright.tune.search import SCREEN_CHUNK, SEARCH_SHARE

    assert 0 < SEARCH_SHARE < 1
    clock = FakeClock()

    class Slow(FakeEvaluator):
        def screen_many(self, candidates, cutoff_ms=None):
            clock.advance(40.0)  # each screening session: 40 s
            return super().screen_many(candidates, cutoff_ms)

    ev = Slow(table((8, 3), 0.056))
    report = tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(stage="launch", freeze=True,
                                                                             budget_s=60.0), clock=clock)
    assert ev.screened == SCREEN_CHUNK  # 40 s > 60 s x SEARCH_SHARE: the grid's second chunk never started
    assert any(f"would run past {60 * SEARCH_SHARE:g} s of the 60 s budget" in n for n in report.notes)


def test_a_chunk_that_would_end_past_the_share_does_not_start() -> None:
    """The pace of the configs screened so far predicts the next chunk: at 15 s per 24 configs against a 36 s
    share, the coarse grid (24 + 24 + 21) stops after two chunks (30 s), where the old rule, checking only the time
    spent, started the third and ended at 43 s; the 7 pipeline depths that still fit (34.4 s) are screened."""
    from tests.fakes import FakeClock
    from tritonwright.tune.search import SCREEN_CHUNK

    clock = FakeClock()

    class Paced(FakeEvaluator):
        def screen_many(self, candidates, cutoff_ms=None):
            clock.advance(15.0 * len(candidates) / SCREEN_CHUNK)  # 15 s per full chunk
            return super().screen_many(candidates, cutoff_ms)

    ev = Paced(table((8, 3), 0.056))
    report = tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(stage="launch", freeze=True,
                                                                             budget_s=60.0), clock=clock)
    assert ev.screened == 2 * SCREEN_CHUNK + 7, ev.screened
    assert any(f"screening of coarse configs stopped after {2 * SCREEN_CHUNK} of {2 * SCREEN_CHUNK + 21}: the "
               "next 21 would run past" in n for n in report.notes), report.notes


def test_where_a_tuner_pass_went_reads_as_one_line() -> None:
    from tritonwright.tune.search import time_line

    assert time_line({}) == ""
    line = time_line({"ab": 10.0, "screen": 12.04, "screen.timed": 1.5, "screen.ahead": 6.3, "verify": 6.6,
                      "rewritten": 4.9})
    assert line == ("screen 12.0 s (timed 1.5 s, compiled ahead 6.3 s), verify 6.6 s, rewritten check 4.9 s, "
                    "A/B 10.0 s")  # in the order a pass runs them, whatever order they were added in


def test_without_its_own_ab_the_checked_tuned_code_is_the_outcome() -> None:
    """The race's tuner pass: no A/B against torch.compile's untuned code; the race's against the best decides."""
    times = table((8, 3), 0.056)
    ev = FakeEvaluator(times)
    comparer = FakeComparer(ev, 0.002)
    report = tune(Candidate(MISH), ev, comparer, TuneSettings(freeze=True, ab=False), original_ms=0.359)
    assert report.decision is Decision.KEEP and comparer.calls == 0 and "ab" not in report.seconds
    assert report.winners[KERNEL] == LaunchConfig(8, 3) and report.candidate.source != MISH
    assert "the caller's A/B decides" in report.reason and "0.34 ms" in report.reason
    flat = FakeEvaluator({k: 0.359 for k in times})  # nothing faster: reverted as before, without an A/B
    report = tune(Candidate(MISH), flat, FakeComparer(flat, 0.002), TuneSettings(freeze=True, ab=False),
                  original_ms=0.359)
    assert report.decision is Decision.REVERT

    class SlowerRewrite(FakeEvaluator):  # the rewritten code's own check (one evaluate) times it behind
        def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
            result = super().evaluate(candidate, timed)
            if result.timing is not None:
                result.timing = TimingStats.from_samples([0.5] * 5, "fake")
            return result

        def evaluate_many(self, candidates: list[Candidate], timed: bool, seed: int | None = None,
                          budget_ms: float | None = None) -> list[EvalResult]:  # the verification: as before
            return [FakeEvaluator.evaluate(self, c, timed) for c in candidates]

    slow = SlowerRewrite(times)
    report = tune(Candidate(MISH), slow, FakeComparer(slow, 0.002), TuneSettings(freeze=True, ab=False),
                  original_ms=0.359)
    assert report.decision is Decision.REVERT and report.candidate.source == MISH
    assert "not faster than the original (0.359 ms)" in report.reason


def test_each_screen_gives_up_on_configs_twice_as_slow_as_the_best_known() -> None:
    times = table((8, 3), 0.056)
    times[(1, 1)] = 5.0  # a config far slower than everything: the cutoff spares its timed runs on a GPU
    ev = FakeEvaluator(times)
    tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True), original_ms=0.359)
    assert ev.cutoffs == [pytest.approx(2 * 0.359)]  # from the original's median before anything is screened
    # later sessions: from the fastest screened so far when it beats the original
    from tritonwright.tune.search import ConfigResult, TuneReport, _Run

    report = TuneReport("launch", Decision.REFUSED, "", Candidate(MISH), original_ms=0.359)
    run_ = _Run(Candidate(MISH), None, ev, TuneSettings(), report, 0.0)  # type: ignore[arg-type]
    report.results += [ConfigResult(KERNEL, LaunchConfig(8, 3), False, "OK", screen_ms=0.30),
                       ConfigResult(KERNEL, LaunchConfig(2, 3), False, "COMPILE_ERROR", screen_ms=0.01)]
    assert run_.cutoff_ms() == pytest.approx(0.60)  # a failed config's figure counts for nothing
    ev = FakeEvaluator(times)
    tune(Candidate(MISH), ev, None, TuneSettings(dry_run=True))
    assert ev.cutoffs == []  # a dry run screens nothing


def test_each_screening_session_leaves_a_note_of_where_its_seconds_went() -> None:
    """Timed, compiled ahead (and how: the runner's note on the shared pass), and the session's own start."""
    from tritonwright.eval.types import PRECOMPILE_NOTE, precompile_detail
    from tritonwright.tune.search import TuneReport, _Run

    how = "4 kernel(s) compiled, 0 failed (4 compiler processes, recording 0.12 s)"
    served = EvalResult(Status.OK, notes=[PRECOMPILE_NOTE + how], step_seconds={"screen": 0.25, "precompile": 1.1})
    alone = EvalResult(Status.OK, notes=["something else"], step_seconds={"screen": 0.25})
    assert precompile_detail(served.notes) == how and precompile_detail(alone.notes) == ""
    report = TuneReport("launch", Decision.REFUSED, "", Candidate(MISH))
    run_ = _Run(Candidate(MISH), None, FakeEvaluator(lambda c: 1.0), TuneSettings(), report, 0.0)  # type: ignore[arg-type]
    run_._where_screen_went("coarse", [alone, served], 2.0)
    assert report.notes[-1] == ("screen (coarse): 2 configs in 2.0 s: timed 0.5 s, compiled ahead 1.1 s, the "
                                f"session's start and loads 0.4 s; compiled ahead: {how}")
    assert report.seconds == {"screen.timed": 0.5, "screen.ahead": 1.1}


def test_a_kernel_with_atomics_is_tuned_and_written_at_its_winner() -> None:
    """No --freeze: sum_kernel (atomics) is searched like any kernel and its winner written as launch arguments
    (an autotune list would rerun it on the same buffers); a dry run, which picks no winner, leaves it."""
    source = (FIXTURES / "scale_then_sum_atomic.py").read_text()
    ev = FakeEvaluator(table((8, 3), 0.056), kernel="sum_kernel")
    report = tune(Candidate(source), ev, FakeComparer(ev, 0.002), TuneSettings(stage="advanced_memory"))
    assert report.decision is Decision.KEEP, report.reason
    assert report.winners == {"sum_kernel": LaunchConfig(8, 3)}
    assert "sum_kernel[(triton.cdiv(n, 256),)](y, out, n, BLOCK=256, num_warps=8, num_stages=3)" in \
        report.candidate.source and "@triton.autotune" not in report.candidate.source
    assert any(n.startswith("sum_kernel is written at its winner's launch settings") for n in report.notes)
    dry = tune(Candidate(source), FakeEvaluator(table((8, 3), 0.056), kernel="scale_kernel"), None,
               TuneSettings(stage="advanced_memory", dry_run=True))
    assert ("sum_kernel", "sum_kernel uses atomics: the autotuner reruns it on the same buffers while "
            "benchmarking, so results would accumulate; a dry run picks no config to launch it at") in dry.skipped


def test_a_later_kernels_first_chunk_runs_once_its_search_starts() -> None:
    """The pace predicts chunks within one kernel's search only: a kernel whose search _search_all started (time
    spent under the share) screens its first chunk, even when the pace of the kernel before says it would end
    past the share; a search with nothing screened would have nothing to verify."""
    from tests.fakes import FakeClock
    from tritonwright.tune.search import SCREEN_CHUNK

    clock = FakeClock()
    sizes: list[int] = []

    class Paced(FakeEvaluator):
        def screen_many(self, candidates, cutoff_ms=None):
            sizes.append(len(candidates))
            clock.advance(100.0 * len(candidates) / SCREEN_CHUNK)  # 4 configs: 16.7 s, under the 36 s share
            return super().screen_many(candidates, cutoff_ms)

    source = (FIXTURES / "two_kernels.py").read_text()
    ev = Paced(table((8, 3), 0.056), kernel="add_kernel")
    tune(Candidate(source), ev, FakeComparer(ev, 0.002), TuneSettings(stage="launch", freeze=True, budget_s=60.0),
         clock=clock)
    assert sizes[:2] == [4, 20], sizes  # the second kernel's 20 configs, predicted at 83 s, were screened
