"""The slowed-variant generator: parseable, passes the static checks, correct in the interpreter, and its
extra read is real (a non-zero buffer changes the output)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from bench.variants import VariantError, extra_fraction_for, recalibrate, slowed_source
from tritonwright.candidate import Candidate, read_candidate, static_check
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

EXAMPLES = Path(__file__).parent.parent / "examples"
SMALL_ELU = {"batch_size": "4", "dim": "3000"}  # 12,000 elements: several blocks of every autotune config


def _elu_source() -> str:
    return read_candidate(EXAMPLES / "elu" / "candidate.py").source


def test_fraction_follows_the_bytes_model():
    # ELU: read 4 + write 4 bytes per element; an extra 4-byte read of fraction f adds f/2 to the time.
    assert extra_fraction_for(0.05, bytes_moved=8_000, bytes_input=4_000) == pytest.approx(0.10)
    assert extra_fraction_for(0.03, bytes_moved=8_000, bytes_input=4_000) == pytest.approx(0.06)
    with pytest.raises(ValueError):
        extra_fraction_for(0.0, 8, 4)


def test_recalibrate_scales_by_target_over_measured_within_bounds():
    assert recalibrate(0.10, target=0.05, measured=0.04) == pytest.approx(0.125)
    assert recalibrate(0.10, target=0.05, measured=0.5) == pytest.approx(0.05)  # at most 2x down
    assert recalibrate(0.10, target=0.05, measured=0.01) == pytest.approx(0.20)  # at most 2x up
    assert recalibrate(0.10, target=0.05, measured=-0.02) == pytest.approx(0.10)  # drift, not a cost: keep


def test_variant_parses_and_passes_the_static_checks():
    src = slowed_source(_elu_source(), 0.1)
    ast.parse(src)
    assert static_check(src) == []
    assert "_TW_EXTRA_FRACTION = 0.1" in src
    assert "tw_extra_ptr, tw_n_extra, BLOCK_SIZE: tl.constexpr" in src
    assert "elu_kernel[grid](x, output, alpha_val, n_elements, _tw_extra(x), _tw_extra(x).numel())" in src


def test_variant_is_correct_in_the_interpreter():
    task = load_task(EXAMPLES / "elu" / "task.py", SMALL_ELU)
    result = evaluate(task, Candidate(source=slowed_source(_elu_source(), 0.25)), EvalConfig(device="cpu", trials=1))
    assert result.status is Status.OK, result.reason


def test_the_extra_read_reaches_the_output():
    # With ones instead of zeros, the first 25% of elements are off by one: the load is wired to the store.
    src = slowed_source(_elu_source(), 0.25).replace("torch.zeros(n,", "torch.ones(n,")
    task = load_task(EXAMPLES / "elu" / "task.py", SMALL_ELU)
    result = evaluate(task, Candidate(source=src), EvalConfig(device="cpu", trials=1))
    assert result.status is Status.MISMATCH
    assert "3000 of 12000 elements" in result.reason


def test_unsupported_shapes_are_refused_with_a_reason():
    with pytest.raises(VariantError, match="no @triton.jit kernel"):
        slowed_source("import torch\n", 0.1)
    # conv_mish_bn's first kernel is never launched: the generator will not guess which one to slow.
    with pytest.raises(VariantError, match="expected one launch"):
        slowed_source(read_candidate(EXAMPLES / "conv_mish_bn" / "candidate.py").source, 0.1)
    with pytest.raises(ValueError, match="fraction"):
        slowed_source(_elu_source(), 0.0)
