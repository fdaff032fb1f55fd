"""Outputs must come from data a Triton kernel wrote: a kernel launched for show is REJECTED without --strict."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_eval_cpu import candidate
from tritonwright.eval.provenance import stored_params
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=120, correctness_timeout_s=120)


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "700"})


def test_stored_params_follow_pointer_names_and_doubt_marks_everything() -> None:
    direct = "def k(x_ptr, y_ptr, n, B):\n    o = tl.arange(0, B)\n    tl.store(y_ptr + o, tl.load(x_ptr + o))\n"
    got = stored_params(direct)
    assert got is not None and "y_ptr" in got and "x_ptr" not in got  # B too, harmlessly: an int
    via_name = ("def k(x_ptr, out_ptr, n, B):\n    offs = tl.arange(0, B)\n    ptrs = out_ptr + offs\n"
                "    tl.store(ptrs, tl.load(x_ptr + offs))\n")
    got = stored_params(via_name)
    assert got is not None and "out_ptr" in got and "x_ptr" not in got
    atomic = "def k(x_ptr, acc_ptr):\n    tl.atomic_add(acc_ptr, tl.sum(tl.load(x_ptr)))\n"
    assert stored_params(atomic) == {"acc_ptr"}
    helper = "def k(x_ptr, y_ptr):\n    write_it(y_ptr, tl.load(x_ptr))\n"
    assert stored_params(helper) is None  # a helper gets a pointer: every tensor argument counts as written
    looped = ("def k(x_ptr, y_ptr, n, B):\n    for i in range(0, n, B):\n"
              "        tl.store(y_ptr + i + tl.arange(0, B), tl.load(x_ptr + i + tl.arange(0, B)))\n")
    got = stored_params(looped)
    assert got is not None and "y_ptr" in got and "x_ptr" not in got  # B too, harmlessly: an int, not a tensor


def test_a_kernel_launched_for_show_is_rejected_without_strict(task) -> None:
    body = """
        launch(x, torch.empty_like(x), self.scale)  # the kernel's result is thrown away
        return torch.tanh(x) * self.scale
    """
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.REJECTED, r.reason
    assert "output 0 is not computed from any Triton kernel's output" in r.reason


def test_a_pytorch_result_copied_into_the_kernels_buffer_is_rejected(task) -> None:
    body = """
        y = launch(x, torch.empty_like(x), self.scale)
        y.copy_(torch.tanh(x) * self.scale)  # overwrites what the kernel wrote
        return y
    """
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.REJECTED and "output 0" in r.reason, r.reason


@pytest.mark.parametrize("body", [
    "return launch(x, torch.empty_like(x), self.scale)",  # output allocated by PyTorch, filled by the kernel
    "return launch(x, torch.empty_like(x), self.scale).view(-1).reshape(x.shape)",  # a view of it
    "return launch(x, torch.empty_like(x), self.scale) * 1.0",  # PyTorch math on the kernel's output
])
def test_outputs_derived_from_a_kernels_output_are_accepted(task, body) -> None:
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.OK, r.reason


def test_a_multi_output_forward_needs_each_output_from_a_kernel(tmp_path) -> None:
    two = tmp_path / "two_task.py"
    two.write_text((FIXTURES / "scale_task.py").read_text().replace(
        "return torch.tanh(x) * self.scale", "return torch.tanh(x) * self.scale, torch.tanh(x) * self.scale"))
    t = load_task(two, {"n": "500"})
    both = candidate("""
        y = launch(x, torch.empty_like(x), self.scale)
        z = launch(x, torch.empty_like(x), self.scale)
        return y, z
    """)
    assert evaluate(t, both, CPU).status is Status.OK
    one = candidate("""
        y = launch(x, torch.empty_like(x), self.scale)
        return y, torch.tanh(x) * self.scale
    """)
    r = evaluate(t, one, CPU)
    assert r.status is Status.REJECTED and "output 1" in r.reason, r.reason
