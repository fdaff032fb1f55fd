"""Outputs are checked again after the timed calls, on fresh values written into the memory those calls
read: a candidate right only for its first calls, or only while the judge records, is MISMATCH."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_eval_cpu import CPU, candidate
from tritonwright.eval import runner
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"

FIRST_N = """
    self.calls = getattr(self, "calls", 0) + 1
    if self.calls <= {n}:  # right while the judge checks, then the last answer again (no work at all)
        self.last = launch(x, torch.empty_like(x), self.scale)
    return self.last
"""

WHILE_RECORDING = """
    from torch.utils._python_dispatch import _get_current_dispatch_mode
    if _get_current_dispatch_mode() is not None or not hasattr(self, "last"):  # the judge is watching
        self.last = launch(x, torch.empty_like(x), self.scale)
    return self.last
"""


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "700"})


def test_right_for_the_checked_calls_only_is_a_mismatch(task) -> None:
    r = evaluate(task, candidate(FIRST_N.format(n=CPU.trials)), CPU)
    assert r.status is Status.MISMATCH, r.reason
    assert r.reason.startswith("on fresh inputs written into the memory the timed calls read"), r.reason
    assert "recheck" in r.step_seconds


def test_right_only_while_the_judge_records_is_a_mismatch(task, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)  # the rules may refuse the private import
    r = evaluate(task, candidate(WHILE_RECORDING), CPU)
    assert r.status is Status.MISMATCH, r.reason


def test_an_honest_candidate_passes_the_recheck(task) -> None:
    r = evaluate(task, candidate("return launch(x, torch.empty_like(x), self.scale)"),
                 EvalConfig(**{**CPU.__dict__, "trials": 1}))
    assert r.status is Status.OK, r.reason


def test_the_recheck_samples_the_same_secret_positions_of_large_outputs() -> None:
    import torch

    from tritonwright.eval.worker import RECHECK_SAMPLE, _sample

    ref = torch.arange(RECHECK_SAMPLE + 5000, dtype=torch.float32).reshape(-1, 8)
    out = ref.clone()
    a, b = _sample(out, ref)
    assert a.numel() == RECHECK_SAMPLE and torch.equal(a, b)  # the same positions on both sides
    c, _ = _sample(out, ref)
    assert not torch.equal(a, c)  # drawn afresh each time: a candidate cannot know which elements count
    out.view(-1)[::2] += 1.0  # stale in half the elements: the sample sees it
    a, b = _sample(out, ref)
    assert not torch.equal(a, b)
    small = torch.ones(10)
    assert _sample(small, small)[0] is small  # small outputs are compared whole


def test_kernels_launched_only_while_recorded_are_named_when_the_output_holds() -> None:
    """GPU integrity: the correctness pass saw launches, the unobserved profiled call none. The recheck runs
    first (a stale result is MISMATCH); a right result without Triton is REJECTED with the reason."""
    from tritonwright.eval import protocol as pr
    from tritonwright.eval.types import EvalResult, KernelShare

    first = pr.CandidateRun(seconds=0.1, passes=1, launches={"scale_kernel": 1})
    hidden = EvalResult(status=Status.OK, kernels=KernelShare())
    assert runner._launched_only_while_recorded(hidden, first)
    assert not runner._launched_only_while_recorded(EvalResult(status=Status.OK, kernels=KernelShare()),
                                                    pr.CandidateRun(seconds=0.1, passes=1))
    seen = EvalResult(status=Status.OK, kernels=KernelShare(triton_launches={"scale_kernel": 1}))
    assert not runner._launched_only_while_recorded(seen, first)
    runner._integrity(hidden, CPU, {}, unobserved=True)
    assert hidden.status is Status.REJECTED and "only while recorded" in hidden.reason
