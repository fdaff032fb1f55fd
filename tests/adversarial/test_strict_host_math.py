"""--strict sees what the profiler cannot: tensors handed to numpy, PyTorch on CPU tensors, and PyTorch compute
in ModelNew.__init__ (parameter initialisation aside)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_eval_cpu import candidate
from tritonwright.candidate import Candidate
from tritonwright.eval import runner
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=120, correctness_timeout_s=120)
STRICT = EvalConfig(**{**CPU.__dict__, "strict": True})

NUMPY_SCALE = """
    s = float(x.numpy().std() * 0 + self.scale)  # a scale computed by numpy on the host
    return launch(x, torch.empty_like(x), s)
"""


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "500"})


def _with_init(body: str, init: str) -> Candidate:
    src = candidate(body).source.replace("        self.scale = scale\n", f"        self.scale = scale\n{init}")
    return Candidate(source=src)


def test_numpy_in_forward_is_non_triton_compute_under_strict(task, monkeypatch) -> None:
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)
    assert evaluate(task, candidate(NUMPY_SCALE), CPU).status is Status.OK  # allowed without --strict
    r = evaluate(task, candidate(NUMPY_SCALE), STRICT)
    assert r.status is Status.REJECTED and "numpy (host math)" in r.reason, r.reason


def test_compute_in_init_is_noted_and_rejected_under_strict(task) -> None:
    cand = _with_init("return launch(x, torch.empty_like(x), self.scale)",
                      "        self.table = torch.linspace(0.0, 1.0, 16).sin()\n")
    r = evaluate(task, cand, CPU)
    assert r.status is Status.OK and any("__init__ computes with PyTorch" in n and "sin" in n for n in r.notes)
    strict = evaluate(task, cand, STRICT)
    assert strict.status is Status.REJECTED and "non-Triton compute in __init__" in strict.reason


def test_parameter_initialisation_in_init_is_not_compute(task) -> None:
    cand = _with_init("return launch(x, torch.empty_like(x), self.scale)",
                      "        self.unused = nn.Linear(4, 4)\n")
    r = evaluate(task, cand, STRICT)
    assert r.status is Status.OK, r.reason
    assert not any("__init__ computes" in n for n in r.notes), r.notes
