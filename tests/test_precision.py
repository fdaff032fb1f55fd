"""Precision policies (eval.precision): the ground-truth check, its edge cases, and detection from source."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

from tritonwright.eval.checks import compare_output
from tritonwright.eval.precision import (
    Detection,
    GroundTruthStatus,
    Policy,
    advice,
    detect_precision,
    elementwise_tolerance,
    ground_truth,
    round_to_tf32,
)
from tritonwright.eval.types import DEFAULT_TOLERANCES

SCALES = (1e-3, 1.0, 1e3)  # outputs from ~1e-5 to ~1e7: the verdict must not move with them


def _fp16(t: torch.Tensor) -> torch.Tensor:
    return t.half().float()


def _matmul(scale: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(64, 1024, generator=g), scale * torch.randn(1024, 96, generator=g)


def _kblock(a: torch.Tensor, b: torch.Tensor, block: int = 32) -> torch.Tensor:
    """A Triton-style K loop, blocks summed last to first."""
    acc = torch.zeros(a.shape[0], b.shape[1])
    for k in reversed(range(0, a.shape[1], block)):
        acc += a[:, k:k + block] @ b[k:k + block]
    return acc


# ------------------------------------------------------------------------------------------ ground truth

@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize(("cheat", "policy"), [(round_to_tf32, Policy.TF32), (_fp16, Policy.FP16)])
def test_reduced_precision_matmul_fails_fp32_at_every_size_and_passes_its_policy(scale, cheat, policy):
    a, b = _matmul(scale)
    ref, ref64 = a @ b, a.double() @ b.double()
    cand = cheat(a) @ cheat(b)
    gt = ground_truth(cand, ref, ref64, Policy.FP32)
    assert gt.status is GroundTruthStatus.FAIL and not gt.ok
    assert gt.ratio is not None and gt.ratio > 4 * Policy.FP32.spec.k  # far outside, not near the edge
    assert gt.accepted_by in ("tf32", "fp16") and "tf32 policy's bound" in gt.reason
    ok = ground_truth(cand, ref, ref64, policy)
    assert ok.status is GroundTruthStatus.PASS, ok.reason
    tol = elementwise_tolerance(policy, ref)
    assert compare_output(cand, ref, tol, trial=0, index=0).ok


def test_small_outputs_hide_tf32_from_the_elementwise_check_but_not_from_ground_truth():
    a, b = _matmul(1e-3)
    ref, ref64 = a @ b, a.double() @ b.double()
    cand = round_to_tf32(a) @ round_to_tf32(b)
    assert compare_output(cand, ref, DEFAULT_TOLERANCES["float32"], trial=0, index=0).ok  # issue 15
    assert not ground_truth(cand, ref, ref64).ok


@pytest.mark.parametrize("scale", SCALES)
def test_reordered_fp32_matmul_and_sum_pass_fp32(scale):
    a, b = _matmul(scale, seed=1)
    gt = ground_truth(_kblock(a, b), a @ b, a.double() @ b.double(), Policy.FP32)
    assert gt.status is GroundTruthStatus.PASS, gt.reason
    assert gt.ratio is not None and gt.ratio < Policy.FP32.spec.k / 4
    x = scale * torch.rand(32, 4096, generator=torch.Generator().manual_seed(2))
    parts = x.reshape(32, 32, 128).sum(-1)  # blocks of 128, partials summed in reverse order
    seq = torch.zeros(32)
    for j in reversed(range(32)):
        seq = seq + parts[:, j]
    assert ground_truth(seq, x.sum(-1), x.double().sum(-1)).status is GroundTruthStatus.PASS


@pytest.mark.parametrize("scale", SCALES)
def test_bf16_inputs_fail_fp32_and_pass_bf16(scale):
    a, b = _matmul(scale, seed=3)
    ref, ref64 = a @ b, a.double() @ b.double()
    cand = a.bfloat16().float() @ b.bfloat16().float()
    gt = ground_truth(cand, ref, ref64, Policy.FP32)
    assert not gt.ok and gt.cand_err is not None and gt.cand_err > 2.0 ** -10  # bf16's 7 bits show
    assert ground_truth(cand, ref, ref64, Policy.BF16).ok
    assert compare_output(cand, ref, elementwise_tolerance(Policy.BF16, ref), trial=0, index=0).ok


def test_exact_reference_leaves_a_floor_for_rounding():
    ref = torch.arange(-512, 512, dtype=torch.float32) / 8  # exactly representable: the reference errs by 0
    ref64 = ref.double()
    ulps = ref
    for _ in range(4):  # four ulps off everywhere: rounding differences, not a precision loss
        ulps = torch.nextafter(ulps, torch.full_like(ref, math.inf))
    gt = ground_truth(ulps, ref, ref64)
    assert gt.ref_err == 0 and gt.ratio is None and gt.status is GroundTruthStatus.PASS
    assert not ground_truth(ref * (1 + 2.0 ** -11), ref, ref64).ok  # a 10-bit mantissa's error does not pass


def test_integer_and_bool_outputs_are_compared_exactly():
    ref = torch.arange(100)
    gt = ground_truth(ref.clone(), ref, None)
    assert gt.status is GroundTruthStatus.NOT_APPLICABLE and gt.ok
    wrong = ref.clone()
    wrong[7] += 1
    gt = ground_truth(wrong, ref, ref.double())
    assert gt.status is GroundTruthStatus.FAIL and "1 of 100" in gt.reason
    flags = ref % 3 == 0
    assert ground_truth(flags.clone(), flags, None).ok
    assert not ground_truth(~flags, flags, None).ok
    assert "dtype" in ground_truth(ref.float() + 0.4, ref, None).reason  # no rounding into a match


def test_complex_outputs_are_judged_by_their_parts():
    g = torch.Generator().manual_seed(4)
    a = torch.randn(32, 256, dtype=torch.complex64, generator=g)
    b = torch.randn(256, 32, dtype=torch.complex64, generator=g)
    ref, ref64 = a @ b, a.to(torch.complex128) @ b.to(torch.complex128)
    assert ground_truth(ref.clone(), ref, ref64).status is GroundTruthStatus.PASS
    rounded = torch.complex(_fp16(a.real), _fp16(a.imag)) @ torch.complex(_fp16(b.real), _fp16(b.imag))
    assert not ground_truth(rounded, ref, ref64).ok


def test_nan_and_inf_must_sit_where_the_reference_has_them():
    ref = torch.tensor([1.0, float("nan"), float("inf"), -2.0, 3.0])
    ref64 = ref.double()
    same = ground_truth(ref.clone(), ref, ref64)
    assert same.ok and same.excluded == 2 and same.compared == 3
    moved = torch.tensor([float("nan"), 1.0, float("inf"), -2.0, 3.0])
    assert "NaN/Inf at 2 positions" in ground_truth(moved, ref, ref64).reason
    flipped = torch.tensor([1.0, float("nan"), -float("inf"), -2.0, 3.0])
    assert not ground_truth(flipped, ref, ref64).ok
    assert not ground_truth(moved, ref, None).ok  # placement is judged without fp64 too


def test_no_fp64_reference_skips_with_the_reason():
    ref = torch.randn(10)
    gt = ground_truth(ref + 1e-3, ref, None, no_fp64_reason="the model has float32-only buffers")
    assert gt.status is GroundTruthStatus.SKIPPED and gt.ok
    assert "no fp64 reference (the model has float32-only buffers)" in gt.reason
    odd = ground_truth(ref, ref, torch.zeros(3, dtype=torch.float64))
    assert odd.status is GroundTruthStatus.SKIPPED and "shape" in odd.reason


def test_empty_shape_mismatch_and_all_zero_outputs():
    empty = torch.empty(0, 4)
    assert ground_truth(empty, empty, empty.double()).status is GroundTruthStatus.PASS
    assert not ground_truth(torch.zeros(3), torch.zeros(4), None).ok
    zeros = torch.zeros(8)
    assert ground_truth(zeros, zeros, zeros.double()).status is GroundTruthStatus.PASS
    assert not ground_truth(zeros + 1e-3, zeros, zeros.double()).ok


def test_result_is_plain_json():
    a, b = _matmul(1.0)
    gt = ground_truth(round_to_tf32(a) @ round_to_tf32(b), a @ b, a.double() @ b.double(), Policy.TF32)
    d = json.loads(json.dumps(dataclasses.asdict(gt), allow_nan=False))
    assert d["status"] == "pass" and d["policy"] == "tf32" and d["measure"] == "rel_rms"


# ------------------------------------------------------------------------------------------ pieces

def test_round_to_tf32_keeps_ten_mantissa_bits():
    x = torch.tensor([1.0 + 2.0 ** -10 + 2.0 ** -11, -3.14159, 1e-30, float("inf"), float("nan")])
    y = round_to_tf32(x)
    assert (y.view(torch.int32) & 0x1FFF == 0).all()
    assert y[0].item() == 1.0 + 2.0 ** -10  # truncated, not rounded up
    assert abs(y[1].item() - x[1].item()) <= abs(x[1].item()) * 2.0 ** -10
    assert math.isinf(y[3].item()) and math.isnan(y[4].item())
    assert torch.equal(round_to_tf32(y[:3]), y[:3])
    with pytest.raises(TypeError):
        round_to_tf32(x.double())


def test_elementwise_tolerance_scales_only_for_reduced_policies():
    big = 1000 * torch.ones(16)
    assert elementwise_tolerance(Policy.FP32, big) == DEFAULT_TOLERANCES["float32"]
    tol = elementwise_tolerance(Policy.TF32, big)
    assert tol.atol == pytest.approx(1e-2 * 1000) and tol.rtol == 1e-2
    assert elementwise_tolerance(Policy.TF32, torch.full((4,), 0.01)).atol == 1e-2  # below RMS 1: absolute
    assert elementwise_tolerance(Policy.FP32, torch.ones(2, dtype=torch.float16)) == DEFAULT_TOLERANCES["float16"]


def test_policies_are_nested():
    assert [p.value for p in sorted(Policy, key=lambda p: p.rank)] == ["fp32", "tf32", "fp16", "bf16"]
    assert Policy("tf32") is Policy.TF32
    assert all(p.spec.k * p.spec.floor >= q.spec.k * q.spec.floor for p in Policy for q in Policy if p.rank > q.rank)


# ------------------------------------------------------------------------------------------ detection

HEADER = "import triton\nimport triton.language as tl\n\n"

DOT_DEFAULT = HEADER + '''@triton.jit
def mm(a_ptr, b_ptr, c_ptr, K, BLOCK: tl.constexpr):
    r = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK, BLOCK), dtype=tl.float32)
    for k in range(0, K, BLOCK):
        a = tl.load(a_ptr + r[:, None] * K + k + r[None, :])
        b = tl.load(b_ptr + (k + r[:, None]) * BLOCK + r[None, :])
        acc += tl.dot(a, b)
    tl.store(c_ptr + r[:, None] * BLOCK + r[None, :], acc)
'''


def test_dot_without_input_precision_is_tf32():
    d = detect_precision(DOT_DEFAULT)
    assert d.precision is Policy.TF32
    ev = d.lowest
    assert ev is not None and ev.line == 11 and ev.source == "acc += tl.dot(a, b)"
    text = advice(d)
    assert "tl.dot without input_precision" in text and 'input_precision="ieee"' in text
    assert "--precision tf32" in text and "line 11" in text
    assert advice(d, Policy.TF32) == ""  # accepted policy: nothing to say


@pytest.mark.parametrize(("call", "expected"), [
    ('tl.dot(a, b, input_precision="ieee")', Policy.FP32),
    ("tl.dot(a, b, allow_tf32=False)", Policy.FP32),
    ('tl.dot(a, b, input_precision="tf32x3")', Policy.FP32),
    ("tl.dot(a, b, allow_tf32=True)", Policy.TF32),
    ('tl.dot(a, b, input_precision="tf32")', Policy.TF32),
    ("tl.dot(a.to(tl.float16), b.to(tl.float16))", Policy.FP16),
    ('tl.dot(a, b.to(tl.float16), input_precision="ieee")', Policy.FP16),
    ("tl.dot(tl.cast(a, tl.bfloat16), b)", Policy.BF16),
    ("tl.dot(a, b, out_dtype=tl.float16, allow_tf32=False)", Policy.FP16),
])
def test_dot_precision_variants(call, expected):
    d = detect_precision(DOT_DEFAULT.replace("tl.dot(a, b)", call))
    assert d.precision is expected, d.evidence
    assert (advice(d) == "") is (expected is Policy.FP32)


def test_explicit_ieee_gives_no_advice():
    d = detect_precision(DOT_DEFAULT.replace("tl.dot(a, b)", 'tl.dot(a, b, input_precision="ieee")'))
    assert d.precision is Policy.FP32 and d.lowest is None and advice(d) == ""
    assert [e.what for e in d.evidence] == ['tl.dot with input_precision="ieee"']


def test_fp16_operands_through_names_and_pointers():
    src = DOT_DEFAULT.replace("        acc += tl.dot(a, b)",
                              "        a16 = a.to(tl.float16)\n        b32 = b.to(tl.float32)\n"
                              "        acc += tl.dot(a16, b32)")
    d = detect_precision(src)
    assert d.precision is Policy.FP16
    assert d.lowest is not None and d.lowest.what == "inputs to tl.dot are fp16" and d.lowest.line == 13
    text = advice(d)
    assert text.startswith("inputs to tl.dot are fp16 (line 13: `acc += tl.dot(a16, b32)`)")
    assert "rerun with --precision fp16 to accept this, against fp16 baselines." in text
    ptr = DOT_DEFAULT.replace("        a = tl.load(a_ptr", "        a = tl.load(a_ptr.to(tl.pointer_type(tl.float16))")
    d = detect_precision(ptr)
    assert d.precision is Policy.FP16 and d.lowest is not None and d.lowest.what == "inputs to tl.dot are fp16"
    assert any(e.what.startswith("pointers are cast to fp16") for e in d.evidence)


def test_fp16_cast_back_to_fp32_still_counts():
    src = DOT_DEFAULT.replace("tl.dot(a, b)", 'tl.dot(a.to(tl.float16).to(tl.float32), b, input_precision="ieee")')
    assert detect_precision(src).precision is Policy.FP16


def test_bf16_elementwise_kernel_and_host_cast():
    src = HEADER + '''@triton.jit
def swish(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n).to(tl.bfloat16)
    tl.store(y_ptr + offs, x * tl.sigmoid(x), mask=offs < n)


def launch(x):
    xh = x.half()
    return xh
'''
    d = detect_precision(src)
    assert d.precision is Policy.BF16
    assert {(e.line, e.precision) for e in d.evidence} == {(7, Policy.BF16), (12, Policy.FP16)}
    assert "--precision bf16" in advice(d) and advice(d, Policy.BF16) == ""


def test_no_dot_at_all():
    src = HEADER + '''@triton.jit
def relu(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n)
    tl.store(y_ptr + offs, tl.maximum(x.to(tl.float32), 0.0), mask=offs < n)
'''
    d = detect_precision(src)
    assert d == Detection(Policy.FP32, ())
    assert advice(d) == ""


def test_aliases_unknowns_and_unparseable_source():
    aliased = DOT_DEFAULT.replace("import triton.language as tl", "from triton import language as tlang") \
        .replace("tl.", "tlang.")
    assert detect_precision(aliased).precision is Policy.TF32
    from_import = "from triton.language import dot\n\ndef k(a, b):\n    return dot(a, b)\n"
    assert detect_precision(from_import).precision is Policy.TF32
    not_triton = "import torch\n\ndef f(a, b):\n    return torch.dot(a, b)\n"
    assert detect_precision(not_triton).precision is Policy.FP32
    variable = detect_precision(DOT_DEFAULT.replace("tl.dot(a, b)", "tl.dot(a, b, input_precision=PREC)"))
    assert variable.precision is Policy.FP32 and variable.evidence[0].precision is None
    indented = textwrap_indent("@triton.jit\ndef k(a, b):\n    return tl.dot(a, b)\n")
    assert detect_precision(indented).precision is Policy.TF32
    broken = detect_precision("def k(:\n")
    assert broken.precision is Policy.FP32 and "does not parse" in broken.note


def textwrap_indent(src: str) -> str:
    return "".join("    " + line for line in src.splitlines(keepends=True))


def test_large_outputs_are_measured_on_secret_positions_with_the_same_verdicts(monkeypatch):
    """The reference child measures float64 error on GROUND_TRUTH_SAMPLE random positions of a large output:
    a TF32-rounded result still fails fp32 and passes tf32, a reordered fp32 one passes, and the verdict says
    it was sampled."""
    from types import SimpleNamespace

    from tritonwright.eval import worker
    from tritonwright.eval.types import OutputCheck

    monkeypatch.setattr(worker, "GROUND_TRUTH_SAMPLE", 4096)
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(256, 128, generator=g), torch.randn(128, 192, generator=g)
    ref64 = a.double() @ b.double()
    ref = a @ b
    tf32 = round_to_tf32(a) @ round_to_tf32(b)
    reordered = sum(a[:, k:k + 32] @ b[k:k + 32] for k in range(96, -1, -32))

    def judge(out, policy):
        check = OutputCheck(0, 0, True, list(ref.shape), "float32")
        worker._Reference._ground_truth(SimpleNamespace(policy=policy, fp64_k=None), check, out, ref, ref64, "")
        return check

    bad = judge(tf32, Policy.FP32)
    assert not bad.ok and bad.ground_truth == "fail" and "4096 secret random positions" in bad.reason
    assert judge(tf32, Policy.TF32).ok
    good = judge(reordered, Policy.FP32)
    assert good.ok and good.ground_truth == "pass" and good.fp64_ratio is not None


def test_round_mantissa_keeps_ten_bits_to_nearest_and_leaves_the_rest() -> None:
    from tritonwright.eval.precision import round_mantissa

    x = torch.tensor([1.0, 1.0 + 2 ** -10, 1.0 + 2 ** -12, 1.0 + 3 * 2 ** -12, -(1.0 + 3 * 2 ** -12),
                      float("inf"), float("nan")])
    r = round_mantissa(x)
    assert r[:5].tolist() == [1.0, 1.0 + 2 ** -10, 1.0, 1.0 + 2 ** -10, -(1.0 + 2 ** -10)]  # to nearest
    assert math.isinf(r[5].item()) and math.isnan(r[6].item())
    d = torch.randn(1000, dtype=torch.float64)
    assert round_mantissa(d).dtype == torch.float64
    assert ((round_mantissa(d) - d).abs() <= d.abs() * 2 ** -11 * 1.0001).all()  # half an ulp of 10 bits
    ints = torch.arange(5)
    assert round_mantissa(ints) is ints


def _positive_sum_case():
    """fp16-cast operands on positive inputs against a reference that accumulates as a GPU library can: the
    error ratio stays under K, which is what an fp16-cast matmul did on an H200 (28x)."""
    from tritonwright.eval.precision import round_mantissa, rounded_error

    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(128, 4096, generator=g), torch.rand(4096, 128, generator=g)
    ref64 = a.double() @ b.double()
    ref = torch.zeros(128, 128)
    for k in range(0, 4096, 8):
        ref += a[:, k:k + 8] @ b[k:k + 8]
    cheat = a.half().float() @ b.half().float()
    legit = sum(a[:, k:k + 64] @ b[k:k + 64] for k in range(0, 4096, 64))
    rounded = rounded_error(round_mantissa(a).double() @ round_mantissa(b).double(), ref64)
    return ref, ref64, cheat, legit, rounded


def test_a_cheat_under_k_on_positive_sums_is_caught_by_the_rounded_input_run() -> None:
    ref, ref64, cheat, legit, rounded = _positive_sum_case()
    assert ground_truth(cheat, ref, ref64, Policy.FP32).status is GroundTruthStatus.PASS  # K alone: fooled
    gt = ground_truth(cheat, ref, ref64, Policy.FP32, rounded_err=rounded)
    assert gt.status is GroundTruthStatus.FAIL and gt.ratio is not None and gt.ratio < 32
    assert "10-bit mantissa" in gt.reason and gt.accepted_by == "tf32" and gt.rounded_err == rounded
    assert ground_truth(legit, ref, ref64, Policy.FP32, rounded_err=rounded).status is GroundTruthStatus.PASS
    assert ground_truth(cheat, ref, ref64, Policy.TF32, rounded_err=rounded).ok  # the matching policy accepts
    # the user's own K is their decision: the rule stands aside
    assert ground_truth(cheat, ref, ref64, Policy.FP32, rounded_err=rounded, k=32).ok


def test_the_lookalike_rule_spares_kernels_near_the_reference_where_rounding_costs_little() -> None:
    ref, ref64, _, legit, _ = _positive_sum_case()
    tiny = float(((legit.double() - ref64).norm() / ref64.norm()).item())  # rounding as cheap as its own error
    assert ground_truth(legit, ref, ref64, Policy.FP32, rounded_err=tiny).ok
    # where rounding the inputs costs little more than the reference's own error (inputs that mostly have 10
    # mantissa bits already), the rule has nothing to tell apart: a candidate 10x the reference (under K) passes
    ref_err = float(((ref.double() - ref64).norm() / ref64.norm()).item())
    legit_err = float(((legit.double() - ref64).norm() / ref64.norm()).item())
    worse = (ref64 + (legit.double() - ref64) * (10 * ref_err / legit_err)).float()
    gt = ground_truth(worse, ref, ref64, Policy.FP32, rounded_err=2 * ref_err)
    assert gt.ok and gt.ratio is not None and 8 < gt.ratio < 32


def test_the_lookalike_rule_holds_where_the_reference_accumulates_serially() -> None:
    """On the H200 cuBLAS's fp32 matmul errs like a serial fp32 accumulation (10x a CPU's blocked sums), so on
    positive inputs at K=4096 rounding the inputs to 10 bits costs only ~6.4x the reference's own error: the
    fp16-cast cheat must still fail there, and a serial IEEE kernel pass."""
    from tritonwright.eval.precision import round_mantissa, rounded_error

    g = torch.Generator().manual_seed(2)
    a, b = torch.rand(64, 4096, generator=g), torch.rand(4096, 64, generator=g)
    ref64 = a.double() @ b.double()

    def serial(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # one fp32 FMA-like step per k, as cuBLAS
        acc = torch.zeros(x.shape[0], y.shape[1])
        for k in range(x.shape[1]):
            acc = torch.addcmul(acc, x[:, k:k + 1], y[k:k + 1])
        return acc

    ref = serial(a, b)
    cheat = serial(a.half().float(), b.half().float())
    legit = sum(a[:, k:k + 64] @ b[k:k + 64] for k in range(0, 4096, 64))
    rounded = rounded_error(round_mantissa(a).double() @ round_mantissa(b).double(), ref64)
    gt = ground_truth(cheat, ref, ref64, Policy.FP32, rounded_err=rounded)
    assert rounded is not None and gt.ref_err is not None
    assert 4 < rounded / gt.ref_err < 8  # the H200's regime: rounding visible, but under 8x the reference
    assert gt.status is GroundTruthStatus.FAIL and "10-bit mantissa" in gt.reason
    assert ground_truth(legit, ref, ref64, Policy.FP32, rounded_err=rounded).ok
    assert ground_truth(ref.clone(), ref, ref64, Policy.FP32, rounded_err=rounded).ok
