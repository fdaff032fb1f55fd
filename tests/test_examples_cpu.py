"""Every example's candidate is correct (interpreter, small sizes set by the test, not by the examples)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.candidate import read_candidate
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

EXAMPLES = Path(__file__).parent.parent / "examples"
SMALL = {
    "elu": {"batch_size": "8", "dim": "4000"},
    "conv_mish_bn": {"batch_size": "2", "in_channels": "3", "out_channels": "4", "height": "10", "width": "10"},
    "softmax": {"batch_size": "5", "dim": "5000"},
    "layernorm": {"batch_size": "6", "hidden": "300"},
    "matmul_fp16": {"M": "40", "N": "48", "K": "72"},
    "gemm_bias_relu": {"batch_size": "40", "in_features": "64", "out_features": "48"},
}


def test_every_example_has_small_sizes():
    assert sorted(p.name for p in EXAMPLES.iterdir() if (p / "task.py").exists()) == sorted(SMALL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_example_candidate_is_correct(name):
    task = load_task(EXAMPLES / name / "task.py", SMALL[name])
    result = evaluate(task, read_candidate(EXAMPLES / name / "candidate.py"), EvalConfig(device="cpu", trials=2))
    assert result.status is Status.OK, result.reason
