"""The tuner's steps alone (tune/search.py): the plans it accepts, the search of every kernel, the rewrite,
the decision, and its clock seam (tests/fakes.py FakeClock): budgets decided without waiting."""

from __future__ import annotations

import pytest

from tests.fakes import FASTER, FakeClock
from tests.fakes import FakeComparer as MarkerComparer  # wins on the FASTER marker
from tests.test_tune_search import KERNEL, MISH, FakeComparer, FakeEvaluator, launch_configs, table
from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.tune import search
from tritonwright.tune.configs import LaunchConfig


def _report(stage: str = "advanced_memory") -> search.TuneReport:
    return search.TuneReport(stage, Decision.REFUSED, "", Candidate(MISH))


def test_prepare_refuses_what_cannot_be_tuned_and_says_why() -> None:
    report = _report()
    assert search._prepare(Candidate(MISH), None, search.TuneSettings(freeze=True, dry_run=True), report) is None
    assert "--freeze needs timing" in report.reason
    with pytest.raises(ValueError, match="needs a comparer"):
        search._prepare(Candidate(MISH), None, search.TuneSettings(), _report())
    report = _report()
    assert search._prepare(Candidate("def broken(:\n"), None, search.TuneSettings(dry_run=True), report) is None
    assert report.reason.startswith("the candidate does not parse (line 1")
    report = _report()
    assert search._prepare(Candidate("x = 1\n"), None, search.TuneSettings(dry_run=True), report) is None
    assert report.reason == "nothing to tune safely, code left unchanged (no @triton.jit kernel)"


def test_prepare_gives_the_analysis_and_the_usable_plans() -> None:
    prepared = search._prepare(Candidate(MISH), None, search.TuneSettings(dry_run=True), _report())
    assert prepared is not None
    analysis, plans = prepared
    assert [p.kernel for p in plans] == [KERNEL] and KERNEL in analysis.kernels


def _search(times, broken=frozenset()):
    """The search of MISH's one kernel with the fake evaluator: (what it found, the report, the plans)."""
    settings = search.TuneSettings(freeze=True)
    report = _report()
    prepared = search._prepare(Candidate(MISH), FakeComparer(None, 0.0), settings, report)
    assert prepared is not None
    analysis, plans = prepared
    run = search._Run(Candidate(MISH), analysis, FakeEvaluator(times, broken), settings, report, 0.0, FakeClock())
    return search._search_all(run, plans), report, plans


def test_search_all_finds_the_winner_and_lists_the_original_first() -> None:
    found, report, _ = _search(table((8, 3), 0.06))
    assert not found.missing and report.winners[KERNEL] == LaunchConfig(8, 3)
    assert found.configs[KERNEL][0].original and found.best_ms[KERNEL] == pytest.approx(0.359 / 1.06)


def test_search_all_stops_at_a_kernel_with_no_passing_config() -> None:
    every = frozenset((w, s) for w in (1, 2, 4, 8, 16, 32) for s in (1, 2, 3, 4, 5))
    found, _, _ = _search(table((8, 3), 0.06), broken=every)
    assert found.missing == KERNEL and KERNEL not in found.configs


def test_the_rewrite_freezes_the_winner_or_lists_every_passing_config() -> None:
    found, report, plans = _search(table((8, 3), 0.06))
    prepared = search._prepare(Candidate(MISH), None, search.TuneSettings(dry_run=True), _report())
    assert prepared is not None
    analysis = prepared[0]
    frozen = search._rewritten(analysis, plans, report.winners, found.configs, freeze=True)
    assert launch_configs(frozen) == [LaunchConfig(8, 3)]
    listed = search._rewritten(analysis, plans, report.winners, found.configs, freeze=False)
    configs = launch_configs(listed)
    assert configs[0] == LaunchConfig(4, 3) and LaunchConfig(8, 3) in configs and "# original" in listed


def test_decide_checks_only_on_a_dry_run_and_keeps_only_a_significant_gain() -> None:
    found, report, plans = _search(table((8, 3), 0.06))
    original = Candidate(MISH)
    faster, slower = Candidate(MISH + f"{FASTER}\n"), Candidate(MISH + "# tuned\n")  # FakeComparer's verdicts
    dry = search._decide(original, faster, None, search.TuneSettings(dry_run=True), _report(), plans, found,
                         FakeClock())
    assert dry.decision is Decision.CHECKED and dry.candidate is faster and "not timed" in dry.reason
    report.original_ms = 0.359
    clock = FakeClock(tick=1.5)
    kept = search._decide(original, faster, MarkerComparer(), search.TuneSettings(freeze=True), report, plans,
                          found, clock)
    assert kept.decision is Decision.KEEP and kept.reason.startswith("kept: 10.0% faster")
    assert kept.seconds["ab"] == 1.5  # the A/B's time, on the injected clock
    report = _report()
    report.original_ms, report.winners = 0.359, {KERNEL: LaunchConfig(8, 3)}
    reverted = search._decide(original, slower, MarkerComparer(), search.TuneSettings(freeze=True), report,
                              plans, found, FakeClock())
    assert reverted.decision is Decision.REVERT and reverted.candidate is original


def test_the_budget_is_read_on_the_injected_clock() -> None:
    ev = FakeEvaluator(table((32, 3), 0.06))
    clock = FakeClock(tick=60.0)  # every reading a minute later: past the 120 s budget after the coarse grid
    report = search.tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), search.TuneSettings(freeze=True), clock=clock)
    assert {r.phase for r in report.results} == {"coarse"} and any("budget" in n for n in report.notes)
    assert report.wall_s > 0 and report.wall_s % 60.0 == 0  # measured on the fake clock too
