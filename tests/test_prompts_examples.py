"""The few-shot example pairs are real: each Triton version matches its reference (Triton interpreter, CPU)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

from tritonwright.prompts import KINDS, detect_kind
from tritonwright.prompts.render import example_pair

# Small shapes keep the interpreter fast; they still leave tails that BLOCK sizes do not divide.
SMALL = {
    "single": ([0.1], [(3, 1000)]),
    "fusion": ([300], [(5, 300)]),
    "network": ([40, 72, 24], [(9, 40)]),
}


@pytest.mark.parametrize("kind", KINDS)
def test_reference_example_is_detected_as_its_own_kind(kind: str) -> None:
    assert detect_kind(example_pair(kind)[0]) == kind


@pytest.mark.parametrize("kind", KINDS)
def test_example_pair_is_complete_kernelbench_code(kind: str) -> None:
    reference, triton_version = example_pair(kind)
    assert "def get_inputs" in reference and "def get_init_inputs" in reference
    assert "@triton.jit" in triton_version and "class ModelNew(nn.Module)" in triton_version
    assert "get_inputs" not in triton_version  # the output rules forbid it


@pytest.mark.parametrize("kind", KINDS)
def test_triton_example_matches_reference_in_the_interpreter(kind: str) -> None:
    init, shapes = SMALL[kind]
    script = textwrap.dedent(f"""
        import importlib, torch
        ref = importlib.import_module("tritonwright.prompts.examples.{kind}_reference")
        new = importlib.import_module("tritonwright.prompts.examples.{kind}_triton")
        torch.manual_seed(0)
        model = ref.Model(*{init!r})
        model_new = new.ModelNew(*{init!r})
        model_new.load_state_dict(model.state_dict())
        inputs = [torch.randn(*s) for s in {shapes!r}]
        with torch.no_grad():
            expected, got = model(*inputs), model_new(*inputs)
        assert got.shape == expected.shape and got.dtype == expected.dtype, (got.shape, expected.shape)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        print("ok")
    """)
    env = {**os.environ, "TRITON_INTERPRET": "1"}  # must be set before triton is imported: a fresh process
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr[-3000:]


def test_examples_import_without_running_anything() -> None:
    for kind in KINDS:
        importlib.import_module(f"tritonwright.prompts.examples.{kind}_reference")
