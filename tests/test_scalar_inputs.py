"""Python numbers among get_inputs() (KernelBench's 5_Matrix_scalar_multiplication returns [A, s]) reach
forward as numbers, on both sides: a kernel taking the number as a scalar argument is judged like any other,
and the floor and the float64 ground truth handle them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent / "fixtures" / "scalar"
CPU = EvalConfig(device="cpu", trials=2, load_timeout_s=120, correctness_timeout_s=120)


def _candidate(factor: str) -> Candidate:
    return Candidate(source=(FIXTURES / "candidate.py").read_text().replace("FACTOR", factor))


@pytest.mark.parametrize("kind", ["float", "int", "numpy"])
def test_a_kernel_taking_the_number_as_a_scalar_argument_passes(kind: str) -> None:
    r = evaluate(load_task(FIXTURES / "task.py", {"kind": repr(kind)}), _candidate("s"), CPU)
    assert r.status is Status.OK, r.reason
    assert all(o.ground_truth in ("pass", "not_applicable") for o in r.outputs if o.index == 0)


def test_a_kernel_that_ignores_the_number_is_a_mismatch() -> None:
    r = evaluate(load_task(FIXTURES / "task.py"), _candidate("3.0"), CPU)
    assert r.status is Status.MISMATCH, r.reason


def test_anything_else_is_the_tasks_error_naming_the_item() -> None:
    with pytest.raises(TaskError, match="get_inputs\\(\\) item 1 is a str, not a tensor or a number"):
        evaluate(load_task(FIXTURES / "task.py", {"kind": "'str'"}), _candidate("s"), CPU)


def test_the_floor_counts_the_tensor_inputs_only() -> None:
    from tritonwright.floor import task_traffic

    t = task_traffic(load_task(FIXTURES / "task.py"))
    assert [r.shape for r in t.reads] == [(48, 70)] and [w.shape for w in t.writes] == [(48, 70)]


@pytest.mark.gpu
def test_a_number_input_on_the_gpu_is_judged_and_timed(tmp_path: Path) -> None:
    r = evaluate(load_task(FIXTURES / "task.py", {"M": "4096", "N": "4096"}), _candidate("s"),
                 EvalConfig(device="cuda", cache_dir=str(tmp_path)))
    assert r.status is Status.OK and r.timing is not None and r.eager is not None, r.reason
