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
    assert report.results and all(r.ok for r in report.results)


@pytest.mark.gpu
def test_seed_elu_already_tuned_is_reverted() -> None:
    task = load_task(EXAMPLES / "elu" / "task.py", {"batch_size": "1024"})
    config = EvalConfig(device="cuda", baselines=False)
    cand = read_candidate(EXAMPLES / "elu" / "candidate.py")
    report = tune(cand, HarnessEvaluator(task, config), HarnessComparer(task, config), TuneSettings())
    assert report.decision is Decision.REVERT, report.reason
    assert report.candidate.source == cand.source
