"""The harness on CPU (Triton interpreter): every adversarial case gets the right status and reason."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=2, load_timeout_s=120, correctness_timeout_s=120)

HEADER = textwrap.dedent('''
    import os
    import signal
    import torch
    import torch.nn as nn
    import triton
    import triton.language as tl


    @triton.jit
    def tanh_scale_kernel(x_ptr, y_ptr, n, scale, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask)
        e = tl.exp(2.0 * x)
        tl.store(y_ptr + offs, (e - 1.0) / (e + 1.0) * scale, mask=mask)


    def launch(x, y, scale):
        n = x.numel()
        tanh_scale_kernel[(triton.cdiv(n, 1024),)](x, y, n, scale, BLOCK=1024)
        return y
''')


def candidate(forward_body: str, extra: str = "") -> Candidate:
    body = textwrap.indent(textwrap.dedent(forward_body).strip(), " " * 8)
    src = HEADER + textwrap.dedent(extra) + textwrap.dedent('''

        class ModelNew(nn.Module):
            def __init__(self, scale):
                super().__init__()
                self.scale = scale

            def forward(self, x):
        ''') + body + "\n"
    return Candidate(source=src)


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py")


def run(task, cand, **kw):
    cfg = EvalConfig(**{**CPU.__dict__, **kw})
    return evaluate(task, cand, cfg)


def test_correct_candidate_passes(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), self.scale)"))
    assert r.status is Status.OK, r.reason
    assert len(r.outputs) == 2 and all(c.ok for c in r.outputs)
    assert r.outputs[0].rel_l2_err is not None and r.outputs[0].rel_l2_err < 1e-5
    assert r.kernels is not None and r.kernels.triton_launches == {"tanh_scale_kernel": 1}
    assert r.timing is None and "GPU" in r.timing_note
    assert r.env is not None and r.env.device == "cpu"
    r.to_json()  # serializable, no NaN/inf


def test_wrong_values(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), self.scale) + 0.01"))
    assert r.status is Status.MISMATCH
    assert "outside atol" in r.reason and r.outputs[0].max_abs_err == pytest.approx(0.01, rel=1e-3)


def test_wrong_shape(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), self.scale)[:-1]"))
    assert r.status is Status.MISMATCH and "shape" in r.reason


def test_nan_output(task):
    r = run(task, candidate("y = launch(x, torch.empty_like(x), self.scale)\ny[3] = float('nan')\nreturn y"))
    assert r.status is Status.MISMATCH and "NaN" in r.reason


def test_all_zeros_fail_even_within_tolerance():
    tiny = load_task(FIXTURES / "scale_task.py", {"scale": "1e-6"})
    r = run(tiny, candidate("launch(x, torch.empty_like(x), self.scale)\nreturn torch.zeros_like(x)"))
    assert r.status is Status.MISMATCH and "constant" in r.reason


def test_unwritten_output_is_poisoned(task):
    r = run(task, candidate("launch(x, torch.empty_like(x), self.scale)\nreturn torch.empty_like(x)"))
    assert r.status is Status.MISMATCH and "NaN" in r.reason


def test_input_mutation(task):
    r = run(task, candidate("return launch(x, x, self.scale)"))
    assert r.status is Status.MISMATCH and "input 0 was modified" in r.reason


def test_memoized_output_fails_on_fresh_inputs(task):
    body = """
        if not hasattr(self, "memo"):
            self.memo = launch(x, torch.empty_like(x), self.scale)
        return self.memo.clone()
    """
    r = run(task, candidate(body))
    assert r.status is Status.MISMATCH and r.reason.startswith("trial 1")


def test_no_triton_launch_is_rejected(task):
    r = run(task, candidate("return torch.tanh(x) * self.scale"))
    assert r.status is Status.REJECTED and "no Triton kernel" in r.reason


def test_strict_rejects_torch_compute(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), 1.0) * self.scale"), strict=True)
    assert r.status is Status.REJECTED and "mul" in r.reason
    r2 = run(task, candidate("return launch(x, torch.empty_like(x), 1.0) * self.scale"))
    assert r2.status is Status.OK and r2.kernels is not None and "mul.Tensor" in r2.kernels.other_ops


def test_try_fallback_rejected_statically(task):
    body = """
        try:
            return launch(x, torch.empty_like(x), self.scale)
        except Exception:
            return torch.tanh(x) * self.scale
    """
    r = run(task, candidate(body))
    assert r.status is Status.REJECTED and "try-fallback" in r.reason


def test_syntax_error_is_compile_error(task):
    cand = Candidate(source=candidate("return launch(x, torch.empty_like(x), self.scale)").source + "\ndef broken(:\n")
    r = run(task, cand)
    assert r.status is Status.COMPILE_ERROR and "syntax error" in r.reason and ":5" not in r.reason


def test_import_error_is_compile_error(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), self.scale)", extra="import not_a_module_xyz\n"))
    assert r.status is Status.COMPILE_ERROR and "not_a_module_xyz" in r.reason


def test_runtime_error(task):
    r = run(task, candidate("return launch(x, torch.empty_like(x), self.scale) + torch.ones(7)"))
    assert r.status is Status.RUNTIME_ERROR and "Traceback" in r.reason


def test_hang_is_timeout_and_crash_is_crash_then_next_eval_works(task):
    hang = run(task, candidate("while True:\n    pass"), correctness_timeout_s=8)
    assert hang.status is Status.TIMEOUT and "killed after 8 s" in hang.reason
    crash = run(task, candidate("faulthandler._sigsegv()", extra="import faulthandler\n"))  # a real segfault
    assert crash.status is Status.CRASH and "SIGSEGV" in crash.reason
    exit_ = run(task, candidate("os._exit(3)"))
    assert exit_.status is Status.CRASH and "code 3" in exit_.reason
    ok = run(task, candidate("return launch(x, torch.empty_like(x), self.scale)"))
    assert ok.status is Status.OK


def test_every_autotune_config_is_checked(task):
    src = HEADER.replace("@triton.jit", textwrap.dedent('''
        @triton.autotune(configs=[triton.Config({}, num_warps=4), triton.Config({"BROKEN": 1}, num_warps=2)],
                         key=["n"])
        @triton.jit''').strip(), 1).replace("BLOCK: tl.constexpr):", "BLOCK: tl.constexpr, BROKEN: tl.constexpr = 0):")
    src = src.replace("tl.store(y_ptr + offs, (e - 1.0) / (e + 1.0) * scale, mask=mask)",
                      "tl.store(y_ptr + offs, (e - 1.0) / (e + 1.0) * scale + BROKEN, mask=mask)")
    src += textwrap.dedent('''

        class ModelNew(nn.Module):
            def __init__(self, scale):
                super().__init__()
                self.scale = scale

            def forward(self, x):
                return launch(x, torch.empty_like(x), self.scale)
    ''')
    r = run(task, Candidate(source=src))
    assert r.status is Status.MISMATCH
    assert "BROKEN=1" in r.reason, r.reason


def test_unmatched_parameters_rejected(tmp_path):
    task_src = textwrap.dedent('''
        import torch
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(8, 8)

            def forward(self, x):
                return self.lin(x)

        def get_inputs():
            return [torch.randn(4, 8)]

        def get_init_inputs():
            return []
    ''')
    (tmp_path / "t.py").write_text(task_src)
    src = HEADER + textwrap.dedent('''

        class ModelNew(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = nn.Parameter(torch.randn(8, 8))
                self.extra = nn.Parameter(torch.randn(8, 8))

            def forward(self, x):
                return launch(x, torch.empty_like(x), 1.0)
    ''')
    r = evaluate(load_task(tmp_path / "t.py"), Candidate(source=src), CPU)
    assert r.status is Status.REJECTED and "cannot be matched" in r.reason and "extra" in r.reason


def test_reference_failure_is_task_error(tmp_path):
    (tmp_path / "t.py").write_text(textwrap.dedent('''
        import torch.nn as nn

        class Model(nn.Module):
            def __init__(self, scale):
                super().__init__()

            def forward(self, x):
                return x

        def get_inputs():
            return [3, "a"]

        def get_init_inputs():
            return [1.0]
    '''))
    with pytest.raises(TaskError, match="item 1 is a str, not a tensor or a number"):  # numbers pass (KernelBench)
        evaluate(load_task(tmp_path / "t.py"), candidate("return x"), CPU)


def test_evaluate_many_judges_each_candidate_on_its_own(task):
    from tritonwright.eval.runner import evaluate_many

    good = candidate("return launch(x, torch.empty_like(x), self.scale)")
    wrong = candidate("return launch(x, torch.empty_like(x), self.scale) + 0.01")
    raising = candidate("raise ValueError('boom')")
    rs = evaluate_many(task, [good, wrong, raising, good], CPU)
    assert [r.status for r in rs] == [Status.OK, Status.MISMATCH, Status.RUNTIME_ERROR, Status.OK]
    assert "boom" in rs[2].reason and rs[0].kernels.triton_launches == {"tanh_scale_kernel": 1}


def test_evaluate_many_recovers_from_a_crash(task):
    from tritonwright.eval.runner import evaluate_many

    good = candidate("return launch(x, torch.empty_like(x), self.scale)")
    crash = candidate("os._exit(3)")
    rs = evaluate_many(task, [good, crash], CPU)
    assert rs[0].status is Status.OK and rs[1].status is Status.CRASH and "code 3" in rs[1].reason


def test_candidate_child_cannot_see_parent_secrets(task, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "not-a-real-key")
    body = """
        if "OPENAI_API_KEY" in getattr(os, "environ"):  # getattr: past the static rule, to test the child itself
            raise ValueError("secret visible in the candidate process")
        return launch(x, torch.empty_like(x), self.scale)
    """
    r = run(task, candidate(body))
    assert r.status is Status.OK, r.reason


def test_candidate_children_keep_autotune_picks_in_triton_s_cache(task):
    """runner.CANDIDATE_ENV reaches the candidate's child (a tuned autotune list is benchmarked once, not in
    every process that loads it); Triton's interpreter ignores it, the GPU's autotuner reads it."""
    body = """
        if getattr(os, "environ").get("TRITON_CACHE_AUTOTUNING") != "1":
            raise ValueError("autotune picks are not cached in the candidate process")
        return launch(x, torch.empty_like(x), self.scale)
    """
    r = run(task, candidate(body))
    assert r.status is Status.OK, r.reason
