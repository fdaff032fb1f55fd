"""On the GPU: a candidate right for its first 50 calls (every correctness trial and the warm-up) and stale
for the timed ones, or right only while the judge records, is MISMATCH, and an honest one is timed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.test_stale_outputs import FIRST_N, WHILE_RECORDING
from tests.test_eval_cpu import candidate
from tritonwright.eval import runner
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

pytestmark = pytest.mark.gpu
FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "4194304"})


@pytest.fixture()
def cfg(tmp_path):
    return EvalConfig(device="cuda", baselines=False, cache_dir=str(tmp_path))


def test_stale_after_n_calls_is_a_mismatch_on_the_gpu(task, cfg) -> None:
    r = evaluate(task, candidate(FIRST_N.format(n=50)), cfg)
    assert r.status is Status.MISMATCH, r.reason
    assert "timed calls" in r.reason


def test_recording_only_compute_is_a_mismatch_on_the_gpu(task, cfg, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)
    r = evaluate(task, candidate(WHILE_RECORDING), cfg)
    assert r.status is Status.MISMATCH, r.reason


def test_an_honest_candidate_is_timed(task, cfg) -> None:
    r = evaluate(task, candidate("return launch(x, torch.empty_like(x), self.scale)"), cfg)
    assert r.status is Status.OK and r.timing is not None, r.reason


def test_a_b_that_goes_stale_during_the_ab_rounds_is_never_faster(task, cfg) -> None:
    from tritonwright.eval.runner import compare

    honest = candidate("return launch(x, torch.empty_like(x), self.scale)")
    c = compare(task, honest, candidate(FIRST_N.format(n=20)), cfg)
    assert not c.significant and c.reason.startswith("B is wrong after the A/B rounds"), c.reason
