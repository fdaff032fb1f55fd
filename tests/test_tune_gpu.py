"""GPU: tune both seed examples through the real harness (skipped where no CUDA GPU is visible)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.candidate import read_candidate
from tritonwright.eval.types import EvalConfig
from tritonwright.task import load_task
from tritonwright.tune.harness import HarnessComparer, HarnessEvaluator
from tritonwright.tune.search import Decision, TuneSettings, tune

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.gpu
def test_seed_mish_tunes_every_config_correctly() -> None:
    task = load_task(EXAMPLES / "conv_mish_bn" / "task.py")
    config = EvalConfig(device="cuda", baselines=False)
    report = tune(read_candidate(EXAMPLES / "conv_mish_bn" / "candidate.py"), HarnessEvaluator(task, config),
                  HarnessComparer(task, config), TuneSettings(freeze=True))
    assert report.decision in (Decision.KEEP, Decision.REVERT), report.reason
    assert report.results and all(r.ok or r.reason for r in report.results)
    assert all(r.ok for r in report.results if r.verified and r.config == report.winners.get(r.kernel))


@pytest.mark.gpu
def test_seed_elu_already_tuned_is_reverted() -> None:
    task = load_task(EXAMPLES / "elu" / "task.py", {"batch_size": "1024"})
    config = EvalConfig(device="cuda", baselines=False)
    cand = read_candidate(EXAMPLES / "elu" / "candidate.py")
    report = tune(cand, HarnessEvaluator(task, config), HarnessComparer(task, config), TuneSettings())
    # Kept only on a significant A/B gain over the threshold; otherwise the code is returned byte for byte.
    if report.decision is Decision.KEEP:
        assert report.comparison is not None and report.comparison.significant, report.reason
    else:
        assert report.decision is Decision.REVERT, report.reason
        assert report.candidate.source == cand.source


@pytest.mark.gpu
def test_screening_times_each_config_and_keeps_failures_apart() -> None:
    from tritonwright.candidate import Candidate

    task = load_task(EXAMPLES / "elu" / "task.py", {"batch_size": "64"})
    good = read_candidate(EXAMPLES / "elu" / "candidate.py")
    raising = Candidate(source=good.source.replace("return triton_elu(x, alpha=self.alpha)", "raise ValueError('boom')"))
    assert raising.source != good.source
    ev = HarnessEvaluator(task, EvalConfig(device="cuda", baselines=False))
    results = ev.screen_many([good, raising, good])
    assert [r.status.value for r in results] == ["OK", "RUNTIME_ERROR", "OK"], [r.reason for r in results]
    assert results[0].timing is not None and results[2].timing is not None and "boom" in results[1].reason


@pytest.mark.gpu
def test_launch_search_on_the_seed_elu_checks_its_winner() -> None:
    task = load_task(EXAMPLES / "elu" / "task.py", {"batch_size": "256"})
    config = EvalConfig(device="cuda", baselines=False)
    cand = read_candidate(EXAMPLES / "elu" / "candidate.py")
    report = tune(cand, HarnessEvaluator(task, config), HarnessComparer(task, config), TuneSettings(stage="launch"))
    assert report.decision in (Decision.KEEP, Decision.REVERT, Decision.REFUSED), report.reason
    if report.winners:
        winner = [r for r in report.results if r.config in report.winners.values() and r.verified]
        assert winner and all(r.ok for r in winner)
