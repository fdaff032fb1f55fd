"""Keep/revert logic of the tuner with a fake evaluator and a fake A/B timer (no GPU, no child processes)."""

from __future__ import annotations

import math
import random
from pathlib import Path

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.types import Comparison, EvalResult, Status, TimingStats
from tritonwright.tune.analysis import analyse
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.neighbourhoods import neighbourhood
from tritonwright.tune.search import Decision, TuneSettings, tune

FIXTURES = Path(__file__).parent / "fixtures" / "tune"
MISH = (FIXTURES / "mish_size_branch.py").read_text()
KERNEL = "fused_activation_kernel_optimized"


def launch_configs(source: str) -> list[LaunchConfig]:
    """The configs a source runs: its autotune list, or its one launch's (num_warps, num_stages)."""
    k = analyse(source).kernels[KERNEL]
    if k.autotune is not None:
        return k.autotune.configs
    s = k.sites[0].settings
    return [LaunchConfig(s["num_warps"].values[0], s["num_stages"].values[0])]


class FakeEvaluator:
    """Times from a table by (num_warps, num_stages); an autotuned source runs its fastest config."""

    def __init__(self, times: dict[tuple[int, int], float], broken: set[tuple[int, int]] = frozenset()) -> None:
        self.times, self.broken, self.calls = times, broken, 0

    def ms(self, source: str) -> float:
        return min(self.times[(c.num_warps, c.num_stages)] for c in launch_configs(source))

    def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
        self.calls += 1
        cs = launch_configs(candidate.source)
        if len(cs) == 1 and (cs[0].num_warps, cs[0].num_stages) in self.broken:
            return EvalResult(status=Status.MISMATCH, reason="output 0: 12 elements out of tolerance")
        ms = self.ms(candidate.source)
        timing = TimingStats.from_samples([ms] * 5, "fake") if timed else None
        return EvalResult(status=Status.OK, timing=timing)


class FakeComparer:
    """Interleaved rounds around the true times with +-`jitter` relative noise; decision as the harness's."""

    def __init__(self, evaluator: FakeEvaluator, jitter: float, rounds: int = 10) -> None:
        self.evaluator, self.jitter, self.rounds = evaluator, jitter, rounds

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
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


def run(times: dict[tuple[int, int], float], jitter: float = 0.002, freeze: bool = True,
        broken: set[tuple[int, int]] = frozenset()):
    ev = FakeEvaluator(times, broken)
    report = tune(Candidate(MISH), ev, FakeComparer(ev, jitter), TuneSettings(freeze=freeze))
    return report, ev


def test_a_clear_gain_is_kept_and_frozen() -> None:
    report, _ = run(table((8, 3), 0.056))
    assert report.decision is Decision.KEEP, report.reason
    assert report.winners[KERNEL] == LaunchConfig(8, 3)
    assert "num_warps=8" in report.candidate.source and report.candidate.source != MISH
    assert report.comparison is not None and report.comparison.significant


def test_a_gain_below_the_threshold_is_reverted() -> None:
    report, _ = run(table((8, 3), 0.01))
    assert report.decision is Decision.REVERT
    assert report.candidate.source == MISH  # unchanged, byte for byte
    assert report.comparison is not None and not report.comparison.significant


def test_a_gain_within_noise_is_reverted() -> None:
    report, _ = run(table((8, 3), 0.03), jitter=0.05)  # 3% gain, +-5% noise
    assert report.decision is Decision.REVERT, report.reason
    assert report.candidate.source == MISH


def test_the_original_winning_is_reverted_without_an_ab_run() -> None:
    report, _ = run(table((4, 3), 0.05))
    assert report.decision is Decision.REVERT and report.comparison is None
    assert "original config is the fastest" in report.reason


def test_the_search_follows_the_winner_past_the_first_neighbourhood() -> None:
    t = table((16, 3), 0.06)  # (16, 3) is not next to (4, 3): round 2 reaches it from (8, 3)
    t[(8, 3)] = 0.350  # a slope towards 16 warps
    report, _ = run(t)
    assert report.winners[KERNEL] == LaunchConfig(16, 3)
    assert next(r.round for r in report.results if r.config == LaunchConfig(16, 3)) == 2
    assert max(r.round for r in report.results) == 3  # and round 3 confirms no neighbour of it is faster
    assert report.decision is Decision.KEEP


def test_every_config_is_checked_on_its_own_and_a_broken_one_is_dropped() -> None:
    report, ev = run(table((8, 3), 0.06), broken={(8, 3)})
    first = neighbourhood("advanced_memory", [LaunchConfig(4, 3)]).configs
    assert [r.config for r in report.results][:len(first)] == list(first)
    broken = [r for r in report.results if not r.ok]
    assert [(r.config.num_warps, r.config.num_stages, r.status) for r in broken] == [(8, 3, "MISMATCH")]
    assert report.winners[KERNEL] != LaunchConfig(8, 3)
    # original + each config + the rewritten result: every source the tuner might emit was run
    assert ev.calls == 1 + len(report.results) + 1


def test_autotune_output_lists_only_configs_that_passed() -> None:
    report, _ = run(table((2, 3), 0.06), freeze=False, broken={(4, 4)})
    assert report.decision is Decision.KEEP
    configs = launch_configs(report.candidate.source)
    assert LaunchConfig(4, 4) not in configs and LaunchConfig(2, 3) in configs
    assert configs[0] == LaunchConfig(4, 3)  # the original first, marked as such
    assert "# original" in report.candidate.source


def test_dry_run_checks_without_timing_or_comparing() -> None:
    ev = FakeEvaluator(table((8, 3), 0.06))
    report = tune(Candidate(MISH), ev, None, TuneSettings(dry_run=True))
    assert report.decision is Decision.CHECKED
    assert all(r.median_ms is None for r in report.results) and report.comparison is None
    assert "@triton.autotune(" in report.candidate.source


def test_refusal_leaves_the_code_unchanged_and_says_why() -> None:
    source = (FIXTURES / "refuse_loop_launch.py").read_text()
    ev = FakeEvaluator({})
    report = tune(Candidate(source), ev, None, TuneSettings(dry_run=True))
    assert report.decision is Decision.REFUSED and report.candidate.source == source
    assert "inside a loop" in report.reason and ev.calls == 0


def test_a_failing_original_is_refused() -> None:
    report, _ = run(table((8, 3), 0.06), broken={(4, 3)})
    assert report.decision is Decision.REFUSED and "original candidate fails" in report.reason


class FailingComparer:
    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        raise TaskError("A/B comparison failed (RUNTIME_ERROR): boom")


def test_a_failed_comparison_reverts_with_its_reason() -> None:
    ev = FakeEvaluator(table((8, 3), 0.06))
    report = tune(Candidate(MISH), ev, FailingComparer(), TuneSettings(freeze=True))
    assert report.decision is Decision.REVERT and report.candidate.source == MISH
    assert "boom" in report.reason
