"""Precision policies: what numerical precision a candidate may use, and a ground-truth check that tells
fp32 rounding from reduced-precision inputs whatever the size of the outputs (issue 15).

    Policy                                       # fp32 (default, today's meaning) | tf32 | fp16 | bf16
    elementwise_tolerance(policy, ref) -> Tolerance
    ground_truth(cand, ref, ref64, policy) -> GroundTruth
    detect_precision(source) -> Detection        # from @triton.jit source text, with the evidence lines
    advice(detection, policy) -> str             # the sentence for a rejected verdict ("" when none)
    round_to_tf32(t) -> Tensor                   # what TF32 tensor cores keep of fp32 inputs
    round_mantissa(t), rounded_error(r64, ref64)  # the lookalike rule's float64 run on 10-bit-mantissa inputs

The elementwise check (|cand - ref| <= atol + rtol*|ref|) cannot tell a 10-bit mantissa from fp32 rounding
when outputs are large: atol 1e-4 is a relative error of 1e-6 at |ref| = 100. The ground-truth check runs the
reference Model once more in float64 and compares the candidate's error with the fp32 reference's own error,
both measured against float64: a legitimate fp32 kernel (another summation order, fused math) lands near the
reference's error; a kernel that rounds its inputs to 10 or 7 mantissa bits lands hundreds of times above it.
The factor K and the floors come from bench/precision_k.py (bench/results/2026-12-04-cpu-precision-k).
"""

from __future__ import annotations

import ast
import math
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

import torch

from tritonwright.eval.types import DEFAULT_TOLERANCES, Tolerance, finite_or_none

_CHUNK = 1 << 26  # elements per reduction step, as checks.py: float64 scratch stays at a few hundred MB
_U32 = 2.0 ** -24  # fp32 unit roundoff (23 stored mantissa bits): the error of one correctly rounded result
_U10 = 2.0 ** -11  # unit roundoff of a 10-bit mantissa: TF32 and fp16
_U7 = 2.0 ** -8  # unit roundoff of a 7-bit mantissa: bf16
MEASURE = "rel_rms"  # ||x - ref64||_2 / ||ref64||_2 over the finite elements (ground_truth's docstring: why)


@dataclass(frozen=True)
class PolicySpec:
    """What one precision policy accepts."""

    mantissa_bits: int  # stored mantissa bits of the format the policy allows for inputs to the arithmetic
    tolerance: Tolerance  # elementwise check vs the fp32 reference; reduced policies scale atol by the output RMS
    k: float  # ground truth: candidate error vs fp64 may be up to k times the reference's own error ...
    floor: float  # ... and that error is taken as at least this (relative RMS), so an exact reference has slack
    baseline: str  # what the eager/compile baselines should run as under this policy, in words


class Policy(str, Enum):
    """Which precision a candidate may compute in; ordered from the most to the least precise."""

    FP32 = "fp32"  # today's meaning: IEEE fp32 arithmetic, TF32 off on both sides
    TF32 = "tf32"  # fp32 values, products of 10-bit mantissas (tensor-core TF32)
    FP16 = "fp16"  # inputs rounded to fp16 (10-bit mantissa, 5-bit exponent), fp32 accumulation
    BF16 = "bf16"  # inputs rounded to bf16 (7-bit mantissa), fp32 accumulation

    @property
    def spec(self) -> PolicySpec:
        return _SPECS[self]

    @property
    def rank(self) -> int:
        """0 for fp32, growing as precision drops; a policy accepts what any policy of lower rank accepts."""
        return _ORDER.index(self)


_ORDER = (Policy.FP32, Policy.TF32, Policy.FP16, Policy.BF16)  # fp16 after tf32: same mantissa, narrower range

# K, floors and reduced-precision tolerances: measured by bench/precision_k.py (results.md there has the table).
# fp32: legitimate variants measured needing up to 15 (a one-at-a-time sequential sum of 4096 positive values),
# cheats from 50.6 (fp16-rounded positive values summed over 4096, the mildest cheat): 32 leaves 2.1x on the
# legitimate side, where a wrong verdict costs more, and 1.6x on the other.
_K32 = 32.0
# Reduced policies: matching cheats measured up to 4.5x max(reference error, the format's unit roundoff)
# (softmax of logits with RMS 4, where exp multiplies input rounding by |x|): 16 leaves 3.6x for wider ones.
_K_REDUCED = 16.0
# The lookalike rule (fp32 policy): K alone is a ratio to the reference's own error, which depends on the data.
# With positive inputs (torch.rand) an fp16-cast matmul of K=4096 measured 28x cuBLAS's fp32 error on an H200
# (bench/results/2026-12-04-H200-replay, 1_Square_matrix_multiplication_), under K=32: input rounding averages
# out of a positive sum while accumulation error does not. So the reference also runs in float64 on inputs and
# weights rounded to a 10-bit mantissa (what TF32 and fp16 keep), which measures what such rounding costs on
# this task's own data; a candidate erring at least LOOKALIKE_SHARE of that looks like it rounded its inputs.
LOOKALIKE_SHARE = 0.5  # a cheat errs by at least the rounding error (plus its own accumulation); half leaves
# room for round-to-nearest vs TF32's truncation and for sampling, and legitimate fp32 kernels sit far below it
LOOKALIKE_MIN_RATIO = 4.0  # ... and only beyond 4x the reference's own error: blocked fp32 sums measured 0.5-2x,
# fast-math elementwise a few ulps, so a legitimate kernel near the reference is never called a lookalike. Not
# 8: on the H200, 10-bit input rounding of that positive K=4096 matmul costs only 6.4x cuBLAS's own error (its
# serial fp32 accumulation errs 10x more than a CPU's blocked sums), and the fp16-cast kernel passed at 8
# (bench/results/2026-12-04-H200-verify)
LOOKALIKE_BITS = 10  # the mantissa a TF32 tensor core or an fp16 cast keeps (bf16's 7 bits err more still)
_SPECS: dict[Policy, PolicySpec] = {
    # fp32: today's elementwise tolerance unchanged (types.DEFAULT_TOLERANCES); floor: one fp32 rounding
    Policy.FP32: PolicySpec(23, DEFAULT_TOLERANCES["float32"], _K32, _U32, "fp32, TF32 off"),
    # tf32/fp16: KernelBench's half-type 1e-2; matching cheats measured needing atol <= 1.5e-3 (x RMS) at rtol 1e-2
    Policy.TF32: PolicySpec(10, Tolerance(1e-2, 1e-2), _K_REDUCED, _U10, "fp32 with TF32 matmuls and convolutions"),
    Policy.FP16: PolicySpec(10, Tolerance(1e-2, 1e-2), _K_REDUCED, _U10, "fp16 inputs and weights"),
    # bf16: 8x fp16's roundoff; measured need 9.9e-3 at rtol 5e-2 (1.1e-2 at 1e-2, so 1e-2 would reject it)
    Policy.BF16: PolicySpec(7, Tolerance(5e-2, 5e-2), _K_REDUCED, _U7, "bf16 inputs and weights"),
}


# ---------------------------------------------------------------------------------------------------------
# Elementwise tolerance


def _chunks(t: torch.Tensor) -> Iterator[torch.Tensor]:
    flat = t.reshape(-1)
    for i in range(0, flat.numel(), _CHUNK):
        yield flat[i:i + _CHUNK]


def _rms(t: torch.Tensor) -> float:
    """Root mean square of the finite elements (float64 sums, chunked); 0.0 when there are none."""
    acc = torch.zeros(2, dtype=torch.float64, device=t.device)
    for c in _chunks(t):
        c64 = c.to(torch.float64)
        fin = torch.isfinite(c64)
        acc[0] += (c64.masked_fill(~fin, 0.0) ** 2).sum()
        acc[1] += fin.sum()
    s, n = acc.tolist()
    return math.sqrt(s / n) if n else 0.0


def elementwise_tolerance(policy: Policy, ref: torch.Tensor | None = None) -> Tolerance:
    """The atol/rtol of the elementwise check (checks.compare_output) for one reference output.

    fp32: today's per-dtype defaults, unchanged. Reduced policies: the policy's tolerance, with atol multiplied
    by the reference's RMS when that is above 1, because rounding inputs to a short mantissa gives absolute
    errors in proportion to the magnitude of the summands, which the output RMS tracks; a fixed atol would
    reject a TF32 matmul with large outputs and accept it with small ones, the bug of issue 15 turned around.
    Never tighter than the output dtype's own default (fp16 outputs keep 1e-2).
    """
    dtype = str(ref.dtype).removeprefix("torch.") if ref is not None else "float32"
    base = DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES["float32"])  # unknown dtypes: as EvalConfig
    if policy is Policy.FP32:
        return base
    tol = policy.spec.tolerance
    scale = max(1.0, _rms(ref)) if ref is not None and ref.is_floating_point() else 1.0  # <= 1: absolute atol
    return Tolerance(max(base.atol, tol.atol * scale), max(base.rtol, tol.rtol))


# ---------------------------------------------------------------------------------------------------------
# Ground truth


class GroundTruthStatus(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"  # integer/bool output: compared exactly, no rounding to judge
    SKIPPED = "skipped"  # no fp64 reference (the reason says why): the elementwise check decides alone


@dataclass
class GroundTruth:
    """How one output's error against a float64 run of the reference compares with the reference's own."""

    status: GroundTruthStatus
    policy: str
    measure: str = MEASURE
    cand_err: float | None = None  # candidate vs fp64 (relative RMS); None when not measured or not finite
    ref_err: float | None = None  # the reference (task dtype, fp32 for fp32 tasks) vs fp64
    ratio: float | None = None  # cand_err / ref_err; None when ref_err is 0 and cand_err is not
    allowed: float | None = None  # k * max(ref_err, floor): cand_err above this fails
    rounded_err: float | None = None  # fp64 run on inputs/weights rounded to 10 mantissa bits, vs fp64 (fp32 only)
    k: float | None = None
    floor: float | None = None
    accepted_by: str | None = None  # the most precise policy whose bound this error meets (None: none does)
    compared: int = 0  # elements that entered the error measure
    excluded: int = 0  # NaN/Inf positions (matching the reference's) left out of it
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not GroundTruthStatus.FAIL


def _unit_roundoff(dtype: torch.dtype) -> float:
    return float(torch.finfo(dtype).eps) / 2  # eps is the gap above 1.0; rounding to nearest errs by half of it


def _bound(policy: Policy, ref_err: float, out_dtype: torch.dtype, k: float | None = None) -> tuple[float, float]:
    """(allowed error, floor used) of `policy` for an output of `out_dtype` whose reference errs by ref_err;
    `k` overrides the policy's factor (the user's --fp64-k)."""
    spec = policy.spec
    floor = max(spec.floor, _unit_roundoff(out_dtype))  # an fp16 output cannot be closer than fp16 rounding
    return (spec.k if k is None else k) * max(ref_err, floor), floor


def _nonfinite_mismatch(cand: torch.Tensor, ref: torch.Tensor) -> int:
    """Positions where NaN/Inf of the candidate and the reference differ (Inf must match in sign)."""
    bad = torch.zeros((), dtype=torch.float64, device=ref.device)
    for c, r in zip(_chunks(cand), _chunks(ref), strict=True):
        c_nan, r_nan = torch.isnan(c), torch.isnan(r)
        c_inf, r_inf = torch.isinf(c), torch.isinf(r)
        bad += (c_nan != r_nan).sum() + ((c_inf | r_inf) & (c != r) & ~(c_nan | r_nan)).sum()
    return int(bad.item())


def ground_truth(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor | None,
                 policy: Policy = Policy.FP32, *, index: int = 0, no_fp64_reason: str = "",
                 k: float | None = None, rounded_err: float | None = None) -> GroundTruth:
    """Judge one output against float64 truth: its error may be up to `k` times the reference's own.

    cand: the candidate's output; ref: the reference Model's output in the task's dtype (fp32 for fp32 tasks);
    ref64: the reference Model run in float64 on the same inputs (None when that run was impossible, with
    `no_fp64_reason`). The three must have the same shape; any device (all are moved to ref's).

    The error measure is the relative RMS error ||x - ref64|| / ||ref64|| over the elements where all three are
    finite (the rel_l2_err that checks.py reports, taken against fp64). In bench/precision_k.py it separated
    legitimate fp32 variants from rounded inputs by the same factor as a mean per-element relative error (3.3)
    and by more than max-abs-error/max|ref64| (2.1), whose maxima make single elements decide. Chosen over the
    per-element mean because it needs no guard constant near zeros of the output (per-element relative errors
    blow up there). It averages over every element, so one unlucky element neither fails a kernel nor hides a
    bad one, and it is invariant to the output's scale: the verdict does not change with the size of the
    outputs. Wrong regions are the elementwise check's business, not this one's.

    `rounded_err` (fp32 policy): the relative RMS error, against ref64, of the reference run in float64 on inputs
    and weights rounded to 10 mantissa bits (rounded_error()). A candidate erring at least LOOKALIKE_SHARE of it,
    and more than LOOKALIKE_MIN_RATIO x the reference's own error, fails whatever K says: it looks like it
    rounded its inputs (the constants' comments say why K alone is not enough). A given `k` (the user's
    --fp64-k) turns this rule off.

    Integer/bool outputs are compared exactly (NOT_APPLICABLE when equal). NaN/Inf positions must match the
    reference's (a FAIL otherwise) and are left out of the measure. An empty output passes.
    """
    gt = GroundTruth(status=GroundTruthStatus.FAIL, policy=policy.value)
    if list(cand.shape) != list(ref.shape):
        gt.reason = f"output {index} shape {list(cand.shape)} != reference {list(ref.shape)}"
        return gt
    cand = cand.to(ref.device)
    if ref.is_complex():  # real and imaginary parts are judged as floats
        cand = torch.view_as_real(cand if cand.is_complex() else cand.to(ref.dtype))
        ref64 = torch.view_as_real(ref64) if ref64 is not None and ref64.is_complex() else ref64
        ref = torch.view_as_real(ref)
    if not ref.is_floating_point():
        if cand.dtype != ref.dtype:  # a float (or other integer) result of an integer op is not exact
            gt.reason = (f"output {index} dtype {str(cand.dtype).removeprefix('torch.')} != reference "
                         f"{str(ref.dtype).removeprefix('torch.')}")
            return gt
        mism = sum(int((c != r).sum().item()) for c, r in zip(_chunks(cand), _chunks(ref), strict=True))
        gt.compared = ref.numel()
        if mism:
            gt.reason = f"output {index}: {mism} of {ref.numel()} elements differ (integer output, exact match)"
            return gt
        gt.status = GroundTruthStatus.NOT_APPLICABLE
        gt.reason = f"output {index} is {str(ref.dtype).removeprefix('torch.')}: compared exactly, no rounding"
        return gt
    if ref.numel() == 0:
        gt.status, gt.reason = GroundTruthStatus.PASS, f"output {index} is empty"
        return gt
    if not cand.is_floating_point():
        cand = cand.to(ref.dtype)
    bad = _nonfinite_mismatch(cand, ref)
    if bad:
        gt.reason = (f"output {index}: NaN/Inf at {bad} positions where the reference has none, or the reverse "
                     f"(or an Inf of the other sign)")
        return gt
    if ref64 is None or list(ref64.shape) != list(ref.shape):
        why = no_fp64_reason or ("no float64 run given" if ref64 is None
                                 else f"its shape {list(ref64.shape)} differs from the reference's")
        gt.status = GroundTruthStatus.SKIPPED
        gt.reason = f"output {index}: no fp64 reference ({why}): ground-truth check skipped"
        return gt
    return _measure(cand, ref, ref64.to(ref.device), policy, index, gt, k, rounded_err)


def _measure(cand: torch.Tensor, ref: torch.Tensor, ref64: torch.Tensor, policy: Policy, index: int,
             gt: GroundTruth, k: float | None = None, rounded_err: float | None = None) -> GroundTruth:
    # Slots: sum (cand - r64)^2, sum (ref - r64)^2, sum r64^2, finite count; float64 so counts stay exact.
    acc = torch.zeros(4, dtype=torch.float64, device=ref.device)
    for c, r, t in zip(_chunks(cand), _chunks(ref), _chunks(ref64), strict=True):
        c64, r64, t64 = c.to(torch.float64), r.to(torch.float64), t.to(torch.float64)
        fin = torch.isfinite(c64) & torch.isfinite(r64) & torch.isfinite(t64)
        acc[0] += ((c64 - t64).masked_fill(~fin, 0.0) ** 2).sum()
        acc[1] += ((r64 - t64).masked_fill(~fin, 0.0) ** 2).sum()
        acc[2] += (t64.masked_fill(~fin, 0.0) ** 2).sum()
        acc[3] += fin.sum()
    s_cand, s_ref, s_truth, n_f = acc.tolist()
    n = int(n_f)
    gt.compared, gt.excluded = n, ref.numel() - n
    if n == 0:
        gt.status = GroundTruthStatus.PASS
        gt.reason = f"output {index}: no finite elements to measure (NaN/Inf placement matches the reference)"
        return gt
    norm = math.sqrt(s_truth) if s_truth > 0 else math.sqrt(n)  # all-zero truth: RMS errors, absolute
    cand_err, ref_err = math.sqrt(s_cand) / norm, math.sqrt(s_ref) / norm
    allowed, floor = _bound(policy, ref_err, ref.dtype, k)
    gt.cand_err, gt.ref_err = finite_or_none(cand_err), finite_or_none(ref_err)
    gt.ratio = cand_err / ref_err if ref_err > 0 else (0.0 if cand_err == 0 else None)
    gt.allowed, gt.k, gt.floor = allowed, policy.spec.k if k is None else k, floor
    gt.accepted_by = next((p.value for p in _ORDER if cand_err <= _bound(p, ref_err, ref.dtype)[0]), None)
    # The user's own K (--fp64-k) is their decision on this task's numerics: the lookalike rule stands aside.
    gt.rounded_err = finite_or_none(rounded_err) if policy is Policy.FP32 and rounded_err and k is None else None
    if cand_err <= allowed and not _lookalike(cand_err, ref_err, floor, gt.rounded_err):
        gt.status = GroundTruthStatus.PASS
        return gt
    if cand_err <= allowed:
        assert gt.rounded_err is not None
        gt.accepted_by = Policy.TF32.value
        gt.reason = (f"output {index}: error vs a float64 run of the reference {cand_err:.2g} (relative RMS, "
                     f"{gt.ratio:.0f}x the reference's own {ref_err:.2g}) is {cand_err / gt.rounded_err:.0%} "
                     f"of what rounding the inputs and weights to a 10-bit mantissa (TF32, fp16) costs on these "
                     f"inputs ({gt.rounded_err:.2g}): it looks like reduced precision; the fp32 policy allows "
                     f"under {LOOKALIKE_SHARE:.0%} of that")
        return gt
    times = f"{gt.ratio:.0f}x the reference's own error {ref_err:.2g}" if gt.ratio is not None else \
        "where the reference is exact"
    within = (f"; within the {gt.accepted_by} policy's bound" if gt.accepted_by
              else "; beyond every precision policy's bound")
    gt.reason = (f"output {index}: error vs a float64 run of the reference {cand_err:.2g} (relative RMS) is "
                 f"{times}; the {policy.value} policy allows {gt.k:g}x (floor {floor:.2g}){within}")
    return gt


# ---------------------------------------------------------------------------------------------------------
# Emulation


def _lookalike(cand_err: float, ref_err: float, floor: float, rounded_err: float | None) -> bool:
    """The candidate errs like a kernel that rounded its inputs to 10 mantissa bits (fp32 policy). Only where
    such rounding is itself clearly visible above the reference's own error: inputs that already have 10 bits or
    fewer (an fp16 task) cost nothing to round, and there the rule has nothing to tell apart."""
    own = LOOKALIKE_MIN_RATIO * max(ref_err, floor)
    return rounded_err is not None and rounded_err > own and cand_err >= LOOKALIKE_SHARE * rounded_err and \
        cand_err > own


def round_mantissa(t: torch.Tensor, bits: int = LOOKALIKE_BITS) -> torch.Tensor:
    """Floating values rounded to nearest with `bits` stored mantissa bits (the exponent range of fp32 kept),
    returned in t's dtype; other dtypes unchanged. Ties round away from zero: a bias of half an ulp once in a
    while does not matter for an error estimate."""
    if not t.is_floating_point() or t.is_complex():
        return t
    drop = 23 - bits
    x = t.detach().to(torch.float32).contiguous().view(torch.int32)
    out = ((x + (1 << (drop - 1))) & ~((1 << drop) - 1)).view(torch.float32)
    return torch.where(torch.isfinite(t), out.to(t.dtype), t)  # NaN/Inf as they were (no carry into them)


def rounded_error(rounded64: torch.Tensor, ref64: torch.Tensor) -> float | None:
    """Relative RMS error of the float64 run on rounded inputs against the float64 run, over the elements
    finite in both; None when there are none or the truth is all zeros."""
    if not ref64.is_floating_point() or list(rounded64.shape) != list(ref64.shape) or ref64.numel() == 0:
        return None
    acc = torch.zeros(2, dtype=torch.float64, device=ref64.device)
    for r, t in zip(_chunks(rounded64.to(ref64.device)), _chunks(ref64), strict=True):
        r64, t64 = r.to(torch.float64), t.to(torch.float64)
        fin = torch.isfinite(r64) & torch.isfinite(t64)
        acc[0] += ((r64 - t64).masked_fill(~fin, 0.0) ** 2).sum()
        acc[1] += (t64.masked_fill(~fin, 0.0) ** 2).sum()
    s_err, s_truth = acc.tolist()
    return math.sqrt(s_err / s_truth) if s_truth > 0 else None


def round_to_tf32(t: torch.Tensor) -> torch.Tensor:
    """fp32 values as a TF32 tensor core sees them: the low 13 of 23 mantissa bits zeroed (truncation).

    Truncation, not round-to-nearest: Triton's tl.dot documentation warns that fp32 operands may be
    truncated to TF32 without rounding, the worse of the two. NaN/Inf stay NaN/Inf (the exponent is kept).
    """
    if t.dtype != torch.float32:
        raise TypeError(f"round_to_tf32 takes float32, got {t.dtype}")
    return (t.contiguous().view(torch.int32) & ~0x1FFF).view(torch.float32)  # 0x1FFF: the low 13 bits


# ---------------------------------------------------------------------------------------------------------
# Detection from kernel source


@dataclass(frozen=True)
class Evidence:
    """One place in the source that sets the precision of some arithmetic."""

    precision: Policy | None  # None: set from a variable, cannot tell
    line: int  # 1-based, in the text given to detect_precision
    source: str  # that line, stripped
    what: str  # in words: "inputs to tl.dot are fp16"
    fix: str = ""  # how to keep fp32 instead, when there is a one-line change


@dataclass(frozen=True)
class Detection:
    precision: Policy  # the least precise policy any evidence needs; FP32 when nothing lowers it
    evidence: tuple[Evidence, ...] = field(default=())
    note: str = ""  # e.g. the source did not parse

    @property
    def lowest(self) -> Evidence | None:
        """The evidence to quote for the detected precision (a tl.dot first, then the first line); None for fp32."""
        if self.precision is Policy.FP32:
            return None
        mine = [e for e in self.evidence if e.precision is self.precision]
        return min(mine, key=lambda e: ("tl.dot" not in e.what, e.line), default=None)  # a tl.dot says most


_TL_MODULES = ("triton.language",)  # a name bound to one of these is `tl`
_REDUCED_DTYPES = {"float16": Policy.FP16, "half": Policy.FP16, "bfloat16": Policy.BF16}
_FP32_DTYPES = {"float32", "float", "fp32"}
# Triton 3.x documents tl.dot's input_precision as "tf32" by default on NVIDIA GPUs with tensor cores ("ieee"
# on AMD except CDNA3); TRITON_F32_DEFAULT overrides it. A switch of the default to tf32x3 (triton-lang/triton
# PR 9080) was reverted (PR 9090), and the installed 3.9 NVIDIA backend still defaults to tf32.
_DOT_DEFAULT = Policy.TF32
_INPUT_PRECISION: dict[str, Policy] = {
    "ieee": Policy.FP32,
    "tf32": Policy.TF32,
    "tf32x3": Policy.FP32,  # three TF32 products of hi/lo splits: measured <= 3x the fp32 reference's error
    "bf16x3": Policy.TF32,  # ~16-bit operands: measured 17-18x, just inside fp32's K; named so a rejection shows it
    "bf16x6": Policy.FP32,  # six bf16 products of three-way splits: measured fp32-grade (bench)
}
_IEEE_FIX = 'pass input_precision="ieee" to tl.dot for fp32 results'
_KEEP_FIX = "keep the operands fp32"


def _dotted(node: ast.expr) -> str:
    """`tl.float16` -> "tl.float16"; "" for anything but names and attributes."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def _scope_nodes(scope: ast.AST) -> list[ast.stmt | ast.expr]:
    """Statements and expressions of one scope in source order, not descending into nested functions."""
    found: list[ast.stmt | ast.expr] = []
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue  # its own scope
        if isinstance(node, ast.stmt | ast.expr):
            found.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return sorted(found, key=lambda n: (n.lineno, n.col_offset))


class _Scanner:
    def __init__(self, tree: ast.Module, lines: list[str]) -> None:
        self.lines = lines
        self.tl: set[str] = {"tl", "triton.language"}  # the usual spelling, plus what the imports bind
        self.dot_names: set[str] = set()  # `from triton.language import dot`
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.tl |= {a.asname for a in node.names if a.name in _TL_MODULES and a.asname}
            elif isinstance(node, ast.ImportFrom) and node.module in _TL_MODULES:
                self.dot_names |= {a.asname or a.name for a in node.names if a.name == "dot"}
            elif isinstance(node, ast.ImportFrom) and node.module == "triton":
                self.tl |= {a.asname or a.name for a in node.names if a.name == "language"}
        self.evidence: set[Evidence] = set()

    def add(self, node: ast.stmt | ast.expr, precision: Policy | None, what: str, fix: str = "") -> None:
        line = node.lineno
        text = self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""
        self.evidence.add(Evidence(precision, line, text[:120], what, fix))  # 120: a line, not a block

    def is_tl(self, node: ast.expr) -> bool:
        return _dotted(node) in self.tl

    def dtype(self, node: ast.expr | None) -> Policy | None:
        """The precision a dtype expression names (tl.float16, torch.bfloat16, "fp16", a pointer to one)."""
        if node is None:
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "pointer_type" and node.args:
            return self.dtype(node.args[0])
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}.get(node.value, node.value)
        else:
            name = _dotted(node).rpartition(".")[2]
        if name in _REDUCED_DTYPES:
            return _REDUCED_DTYPES[name]
        return Policy.FP32 if name in _FP32_DTYPES else None

    def is_dot(self, call: ast.Call) -> bool:
        f = call.func
        if isinstance(f, ast.Attribute) and f.attr == "dot":
            return self.is_tl(f.value)
        return isinstance(f, ast.Name) and f.id in self.dot_names

    def cast_target(self, call: ast.Call) -> tuple[Policy, bool] | None:
        """(precision, a pointer cast?) of x.to(tl.float16), tl.cast(x, tl.bfloat16), x.half(),
        x.to(torch.float16), p.to(tl.pointer_type(tl.float16)); None for anything else."""
        f = call.func
        if not isinstance(f, ast.Attribute):
            return None
        arg: ast.expr | None = None
        if f.attr == "to":
            arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "dtype"), None)
        elif f.attr == "cast" and self.is_tl(f.value):
            arg = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords
                                                                 if k.arg == "dtype"), None)
        elif f.attr in ("half", "bfloat16") and not call.args:
            return _REDUCED_DTYPES[f.attr], False
        p = self.dtype(arg)
        if p is None:
            return None
        pointer = isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) \
            and arg.func.attr == "pointer_type"
        return p, pointer

    def operand(self, node: ast.expr, env: dict[str, Policy]) -> Policy | None:
        """Precision of a value: a cast, a name assigned from one, a load through a cast pointer, or an
        expression of such values (the least precise counts: what was rounded away stays lost)."""
        if isinstance(node, ast.Name):
            return env.get(node.id)
        if isinstance(node, ast.Attribute):  # x.T
            return self.operand(node.value, env)
        if isinstance(node, ast.BinOp):
            return _least(self.operand(node.left, env), self.operand(node.right, env))
        if not isinstance(node, ast.Call):
            return None
        cast = self.cast_target(node)
        f = node.func
        if cast is not None and isinstance(f, ast.Attribute):
            inner = node.args[0] if f.attr == "cast" and node.args else f.value
            return _least(cast[0], self.operand(inner, env))  # fp16 cast back to fp32 is still fp16
        if isinstance(f, ast.Attribute) and self.is_tl(f.value):
            if f.attr == "load" and node.args:
                return self.operand(node.args[0], env)  # the pointer's precision is the loaded value's
            if f.attr in ("trans", "permute", "reshape", "view", "where") and node.args:
                return _least(*(self.operand(a, env) for a in node.args))
            return None
        if isinstance(f, ast.Attribute):  # a method of a value (x.trans(), x.reshape(...)) keeps its dtype
            return self.operand(f.value, env)
        return None

    def scan(self, scope: ast.AST) -> None:
        env: dict[str, Policy] = {}  # name -> precision of the value (or pointee) last assigned to it
        for node in _scope_nodes(scope):
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                p = self.operand(node.value, env)
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if isinstance(t, ast.Name) and p is None:
                        env.pop(t.id, None)
                    elif isinstance(t, ast.Name) and p is not None:
                        env[t.id] = p
            if not isinstance(node, ast.Call):
                continue
            if self.is_dot(node):
                self.dot(node, env)
                continue
            cast = self.cast_target(node)
            if cast is not None and cast[0] is not Policy.FP32:
                if cast[1]:
                    self.add(node, cast[0], f"pointers are cast to {cast[0].value}: loads through them round to it",
                             "load fp32")
                else:
                    self.add(node, cast[0], f"values are cast to {cast[0].value}", _KEEP_FIX)

    def dot(self, call: ast.Call, env: dict[str, Policy]) -> None:
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        out = self.dtype(kw.get("out_dtype"))
        if out is not None and out is not Policy.FP32:
            self.add(call, out, f"tl.dot accumulates in {out.value} (out_dtype)", "accumulate in tl.float32")
        low = _least(*(self.operand(a, env) for a in call.args[:2]))
        if low is not None and low.rank >= Policy.FP16.rank:  # fp16/bf16 operands: input_precision is moot
            self.add(call, low, f"inputs to tl.dot are {low.value}", _KEEP_FIX)
            return
        prec, tf32 = kw.get("input_precision"), kw.get("allow_tf32")
        if prec is not None:
            if isinstance(prec, ast.Constant) and isinstance(prec.value, str) and prec.value in _INPUT_PRECISION:
                p = _INPUT_PRECISION[prec.value]
                self.add(call, p, f'tl.dot with input_precision="{prec.value}"', _IEEE_FIX if p.rank else "")
            else:
                self.add(call, None, "tl.dot's input_precision is set from a variable: cannot tell")
        elif tf32 is not None:
            if isinstance(tf32, ast.Constant) and isinstance(tf32.value, bool):
                p = Policy.TF32 if tf32.value else Policy.FP32
                self.add(call, p, f"tl.dot with allow_tf32={tf32.value}", _IEEE_FIX if p.rank else "")
            else:
                self.add(call, None, "tl.dot's allow_tf32 is set from a variable: cannot tell")
        else:
            self.add(call, _DOT_DEFAULT, "tl.dot without input_precision runs fp32 inputs as TF32 on NVIDIA GPUs",
                     _IEEE_FIX)


def _least(*ps: Policy | None) -> Policy | None:
    """The least precise of the known precisions; None when none is known."""
    return max((p for p in ps if p is not None), key=lambda p: p.rank, default=None)


def detect_precision(source: str) -> Detection:
    """Which precision a candidate's kernels appear to use, with the lines that say so.

    `source`: Python text holding @triton.jit functions (a whole candidate file works too: host code that
    casts inputs with .half() or .to(torch.float16) before a launch counts as well). Reads tl.dot calls
    (input_precision, allow_tf32, out_dtype, and the dtype of their operands: casts, names assigned from casts,
    loads through pointers cast to fp16/bf16) and every cast to fp16/bf16 (.to(tl.float16), tl.cast, .half(),
    ...). Uses the syntax tree only: a dtype chosen at run time (x.to(c_ptr.dtype.element_ty)) is not seen.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        source = textwrap.dedent(source)  # a method's source keeps its indentation
        try:
            tree = ast.parse(source)
        except SyntaxError as exc:
            return Detection(Policy.FP32, (), f"the kernel source does not parse (line {exc.lineno}): not read")
    scanner = _Scanner(tree, source.splitlines())
    scanner.scan(tree)
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            scanner.scan(fn)
    found = sorted(scanner.evidence, key=lambda e: (e.line, "tl.dot" not in e.what, e.what))
    precision = _least(*(e.precision for e in found)) or Policy.FP32
    return Detection(precision, tuple(found))


def advice(detection: Detection, policy: Policy = Policy.FP32) -> str:
    """The sentence to add to a verdict that the ground-truth or elementwise check rejected under `policy`.

    "" when the source shows nothing less precise than the policy allows (the error is then not a precision
    choice, or one this reader cannot see).
    """
    if detection.precision.rank <= policy.rank:
        return ""
    ev = detection.lowest
    if ev is None:
        return ""
    p = detection.precision.value
    fix = f"{ev.fix}, or rerun" if ev.fix else "rerun"
    return (f"{ev.what} (line {ev.line}: `{ev.source}`): {fix} with --precision {p} to accept this, "
            f"against {p} baselines.")
