"""Failure texts an LLM can act on: trimmed tracebacks, version hints, mismatch shapes (CPU, tiny sizes)."""

from __future__ import annotations

import ast
import os
import sys
import textwrap

import pytest
import torch

from tritonwright.eval import errtext, mismatch
from tritonwright.eval.types import EvalConfig, EvalResult, Status, Tolerance

CANDIDATE = textwrap.dedent('''
    import torch
    import triton
    import triton.language as tl


    @triton.jit
    def block_ptr_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        p = tl.make_block_ptr(x_ptr, (n,), (1,), (0,), (BLOCK,), (0,))
        tl.store(y_ptr + tl.arange(0, BLOCK), tl.load(p, boundary_check=(0,)))


    @triton.jit
    def math_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        tl.store(y_ptr + offs, tl.math.tanh(tl.load(x_ptr + offs)))


    @triton.jit
    def shape_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        a = tl.load(x_ptr + offs)
        b = tl.load(x_ptr + tl.arange(0, 2 * BLOCK))
        tl.store(y_ptr + offs, a + b)


    @triton.autotune(configs=[triton.Config({"BLOCK": 16}), triton.Config({"BLOCK": 32})], key=["n"])
    @triton.jit
    def tuned_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


    def run(which, x):
        y = torch.empty_like(x)
        if which == "block_ptr":
            block_ptr_kernel[(1,)](x, y, x.numel(), BLOCK=32)
        elif which == "math":
            math_kernel[(1,)](x, y, x.numel(), BLOCK=32)
        elif which == "shape":
            shape_kernel[(1,)](x, y, x.numel(), BLOCK=32)
        elif which == "tuned":
            tuned_kernel[(1,)](x, y, x.numel(), BLOCK=32)
        elif which == "twice":  # n both by position and by keyword (a replayed LLM reply did this)
            shape_kernel[(1,)](x, y, x.numel(), n=x.numel(), BLOCK=32)
        elif which == "key":
            return {}[""]
        return y
''')


@pytest.fixture(scope="module")
def cand(tmp_path_factory: pytest.TempPathFactory):
    """The candidate imported as the candidate child does: a temp file, the harness's module name, the
    interpreter and the CPU hooks (autotune pinning)."""
    old = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"  # read when @triton.jit decorates
    from tritonwright.eval import hooks, loading

    hooks.install_launch_hooks(interpret=True, pin_autotune=True)
    folder = tmp_path_factory.mktemp("x") / "tritonwright-eval-abc123"
    folder.mkdir()
    path = folder / "c0_deadbeef.py"
    path.write_text(CANDIDATE)
    try:
        yield loading.load_candidate_module(str(path), "tritonwright_candidate_c0")
    finally:
        hooks.LOG.pin_active = False
        sys.modules.pop("tritonwright_candidate_c0", None)
        if old is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = old


def _fail(cand, which: str) -> BaseException:
    with pytest.raises(Exception) as info:
        cand.run(which, torch.randn(32))
    return info.value


def _clean(text: str) -> None:
    """No judge frame, temp path or internal name."""
    for bad in ("tritonwright-eval", "/tmp", "c0_deadbeef", "site-packages", "tritonwright/", "hooks.py",
                "_wrap_run", "tritonwright_candidate", "interpreter.py", "InterpreterError"):
        assert bad not in text, (bad, text)


def test_kernel_error_keeps_candidate_frames_and_root_line(cand):
    text = errtext.describe_exception(_fail(cand, "shape"))
    _clean(text)
    assert 'File "candidate.py"' in text and "in shape_kernel" in text and "a + b" in text
    assert "shape_kernel[(1,)]" in text  # the launch site
    assert errtext.headline(text) == ("ValueError: Cannot make_shape_compatible: incompatible dimensions at "
                                      "index 0: 32 and 64")


def test_headline_after_a_compilation_error_names_the_error_not_the_pointer() -> None:
    """As the H200 replay printed them: the final line only points up at the compiler's message."""
    shape = ("CompilationError: at 22:14:\n    offsets = tl.reshape(offsets, -1)\n              ^\n"
             "Shape element 0 must be a power of 2\nValueError (in the message above)")
    assert errtext.headline(shape) == "ValueError: Shape element 0 must be a power of 2"
    missing = ("CompilationError: at 47:7:\n    if tl.launch_id(1) == 0:\n       ^\n"
               "AttributeError(\"module 'triton.language' has no attribute 'launch_id'\")\n"
               "CompilationError (see the message above)\nhint: tl.launch_id does not exist in Triton 3.6.0.")
    assert errtext.headline(missing).startswith("CompilationError: AttributeError(\"module 'triton.language'")


def test_full_traceback_is_kept_apart(cand):
    exc = _fail(cand, "shape")
    full = errtext.full_traceback(exc)
    assert "interpreter.py" in full and "c0_deadbeef.py" in full
    r = EvalResult(status=Status.RUNTIME_ERROR, reason=errtext.describe_exception(exc), detail=full)
    back = EvalResult.from_dict(r.to_dict())
    assert back.detail == full and back.reason == r.reason
    assert EvalResult.from_dict({"status": "OK"}).detail == ""  # results stored before the field


def test_block_ptr_hint(cand):
    text = errtext.describe_exception(_fail(cand, "block_ptr"))
    _clean(text)
    assert "tl.make_block_ptr(x_ptr" in text
    assert "NotImplementedError: Block pointers have been removed" in text
    assert "hint: Triton" in text and "removed in 3.9" in text and "mask=" in text


def test_tl_math_hint_names_a_path_that_exists(cand):
    text = errtext.describe_exception(_fail(cand, "math"))
    _clean(text)
    assert "AttributeError: module 'triton.language.math' has no attribute 'tanh'" in text
    assert "libdevice.tanh" in text and "2*tl.sigmoid(2*x) - 1" in text
    module = text.split("`from ")[1].split("`")[0].replace(" import ", ".")
    assert __import__("importlib").import_module(module)


def test_autotune_conflict_says_what_triton_says_on_gpu(cand):
    text = errtext.describe_exception(_fail(cand, "tuned"))
    _clean(text)
    assert "tuned_kernel[(1,)](x, y, x.numel(), BLOCK=32)" in text
    assert errtext.headline(text).startswith("ValueError: Conflicting meta-parameters: BLOCK.")
    assert "remove BLOCK=... from the launch" in text


def test_an_argument_given_twice_at_the_launch_says_so(cand):
    text = errtext.describe_exception(_fail(cand, "twice"))
    _clean(text)
    assert errtext.headline(text) == ("TypeError: the launch of shape_kernel got multiple values for argument 'n' "
                                      "(n is passed both by position and as n=...: pass it once)")


def test_tritons_binder_name_is_not_shown_for_an_argument_given_twice() -> None:
    """On a GPU the binder Triton generates is named dynamic_func (runtime/jit.py); the replay corpus met it."""
    try:
        raise TypeError("dynamic_func() got multiple values for argument 'N'")
    except TypeError as exc:
        text = errtext.describe_exception(exc)
    assert errtext.headline(text).startswith("TypeError: the kernel launch got multiple values for argument 'N' "
                                             "(N is passed both by position")
    assert "dynamic_func" not in errtext.headline(text)


def test_empty_key_error_says_what_and_where(cand):
    text = errtext.describe_exception(_fail(cand, "key"))
    _clean(text)
    assert "KeyError: ''" in text and "not found" in text and 'candidate.py, line' in text
    assert 'return {}[""]' in text


def test_compilation_error_keeps_source_excerpt():
    src = "def kernel(x_ptr):\n    p = tl.make_block_ptr(x_ptr)\n    return p\n"
    node = ast.parse(src).body[0].body[0]
    from triton.compiler.errors import CompilationError

    inner = NotImplementedError("Block pointers have been removed in favor of the tensor descriptor API")
    try:
        try:
            raise inner
        except NotImplementedError as e:
            raise CompilationError(src, node, repr(e)) from e
    except CompilationError as exc:
        text = errtext.describe_exception(exc)
    assert "CompilationError: at 2:4:" in text and "p = tl.make_block_ptr(x_ptr)" in text and "    ^" in text
    assert "hint: Triton" in text or errtext._version_tuple(errtext.installed_triton() or "0") < (3, 9)
    _clean(text)


def test_scrub_paths_and_names():
    s = ('File "/tmp/tritonwright-eval-k2j3/c0_9f8e.py", line 3; module tritonwright_candidate_c0; '
         "/var/tmp/tritonwright-ab-x1/a.log")
    out = errtext.scrub(s)
    assert out == 'File "candidate.py", line 3; module candidate; <tmp>/a.log'


@pytest.mark.parametrize(("text", "version", "expect"), [
    ("module 'triton.language' has no attribute 'libdevice'", "3.9.0", "moved to tl.math in 2.1"),
    ("tl.make_block_ptr(...)", "3.9.0", "removed in 3.9"),
    ("tl.make_block_ptr(...)", "3.6.0", None),  # still works there: no hint
    ("got an unexpected keyword argument 'input_precision'", "2.3.1", "allow_tf32=False"),
    ("got an unexpected keyword argument 'input_precision'", "3.9.0", None),
    ("Kernel requires a runtime memory allocation, but no allocator was set.", "3.9.0", "triton.set_allocator"),
    ("libdevice.tanh(x): TypeError: cannot convert None of type NoneType", "3.9.0", "CPU interpreter"),
    ("module 'triton.language' has no attribute 'no_such_fn'", "3.9.0", "does not exist in Triton 3.9.0"),
])
def test_version_hints(text: str, version: str, expect: str | None):
    hints = errtext.api_hints(text, version)
    if expect is None:
        assert hints == []
    else:
        assert len(hints) == 1 and expect in hints[0], hints


# ---------------------------------------------------------------------------------------------------------
# Mismatch shapes

TOL = Tolerance(1e-4, 1e-4)


@pytest.fixture
def ref() -> torch.Tensor:
    return torch.randn(64, 96, generator=torch.Generator().manual_seed(0))


def test_precision_like(ref):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(64, 256, generator=g), torch.randn(256, 96, generator=g)
    out = a.half().float() @ b.half().float()  # inputs rounded to 10 mantissa bits, as TF32 does
    text = mismatch.describe(out, a @ b, TOL)
    assert "reduced precision" in text and "TF32" in text and "ieee" in text


def test_nan_tail_past_a_block_multiple(ref):
    out = ref.clone().reshape(-1)
    out[4096:] = float("nan")
    text = mismatch.describe(out.reshape(ref.shape), ref, TOL)
    assert "NaN (first at [42, 64])" in text and "never written" in text
    assert "from flat index 4096" in text and "multiple of 4096" in text and "mask or the grid" in text


def test_wrong_rows_and_columns(ref):
    out = ref.clone()
    out[:, 64:] += 1.0
    assert "dim 1 from index 64 on (of 96) (64 is a multiple of 64" in mismatch.describe(out, ref, TOL)
    out = ref.clone()
    out[8:24] = 0.0
    assert mismatch.describe(out, ref, TOL) == "wrong values only at dim 0 indices 8..23 (of 64)"


def test_one_dimensional_tail():
    ref = torch.randn(3000, generator=torch.Generator().manual_seed(2))
    out = ref.clone()
    out[2048:] = 0.0
    text = mismatch.describe(out, ref, TOL)
    assert "from flat index 2048 ([2048]) on" in text and "multiple of 2048" in text


def test_scale_sign_offset(ref):
    assert "out ≈ 0.5 × ref (= 1/2)" in mismatch.describe(ref * 0.5, ref, TOL)
    assert "sign is flipped" in mismatch.describe(-ref, ref, TOL)
    assert "out ≈ ref + 0.25" in mismatch.describe(ref + 0.25, ref, TOL)
    # a bias of 0.1 % (TF32 truncation over a long K sum measured 0.998903x) is no forgotten constant
    biased = mismatch.describe(ref * 0.998903, ref, TOL)
    assert "uniform bias of 0.0011" in biased and "wrong scale factor" not in biased


def test_scattered_and_single(ref):
    out = ref.clone()
    out[3, 5] += 1.0
    assert mismatch.describe(out, ref, TOL) == "one wrong element, at [3, 5]"
    out[50, 70] += 1.0
    assert "scattered" in mismatch.describe(out, ref, TOL)


def test_mismatch_reason_carries_the_shape(ref):
    from tritonwright.eval.checks import compare_output

    check = compare_output(-ref, ref, TOL, 0, 0)
    assert not check.ok and check.reason.endswith("out ≈ -ref: the sign is flipped")


def test_int32_overflow_words():
    st = mismatch._Stats(numel=2 ** 31 + 4096, bad=4096, first_bad=2 ** 31, last_bad=2 ** 31 + 4095)
    parts, region = mismatch._region(st, (2 ** 31 + 4096,), -1, -1)
    assert region and "int32 index overflow" in parts[0] and "int64" in parts[0]


def test_evaluation_reason_is_trimmed_and_detail_kept():
    """End to end on CPU: the reason names candidate.py only; the run store gets the whole traceback."""
    from tests.test_eval_cpu import CPU, FIXTURES, candidate
    from tritonwright.eval.runner import evaluate
    from tritonwright.task import load_task

    task = load_task(FIXTURES / "scale_task.py")
    r = evaluate(task, candidate("return launch(x, torch.empty_like(x), self.scale)[{}['']]"),
                 EvalConfig(**{**CPU.__dict__, "trials": 1}))
    assert r.status is Status.RUNTIME_ERROR, r.reason
    _clean(r.reason)
    assert "KeyError: ''" in r.reason and 'File "candidate.py"' in r.reason and "in forward" in r.reason
    assert "worker.py" in r.detail and "tritonwright-eval-" in r.detail


@pytest.mark.parametrize("text", ['AssertionError: Input must be on CUDA for Triton kernels.',
                                  "AssertionError: Torch not compiled with CUDA enabled"])
def test_cuda_only_code_in_cpu_mode_gets_a_hint_and_not_on_a_gpu(text: str, monkeypatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    (hint,) = errtext.api_hints(text, "3.9.0")
    assert "runs on a CPU" in hint and "device=x.device" in hint
    monkeypatch.delenv("TRITON_INTERPRET")
    assert errtext.api_hints(text, "3.9.0") == []  # on a GPU the message means what it says


def test_cuda_only_code_in_cpu_mode_end_to_end() -> None:
    from tests.test_eval_cpu import CPU, FIXTURES, candidate
    from tritonwright.eval.runner import evaluate
    from tritonwright.task import load_task

    r = evaluate(load_task(FIXTURES / "scale_task.py"),
                 candidate('assert x.is_cuda, "Input must be on CUDA"\nreturn launch(x, torch.empty_like(x), '
                           'self.scale)'), EvalConfig(**{**CPU.__dict__, "trials": 1}))
    assert r.status is Status.RUNTIME_ERROR and "hint: this evaluation runs on a CPU" in r.reason, r.reason
