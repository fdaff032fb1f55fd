"""Measure the ground-truth factor K and the precision policies' bounds (issue 15), on CPU.

For KernelBench-like ops at moderate sizes, every case runs the reference op in fp32 and in fp64 and then:

  (i)   legitimate fp32 variants: the reduction split into blocks summed in another order (as a Triton kernel's
        K loop does, no Kahan), split-K, sequential accumulation, fused or rewritten math (x/(1+exp(-x)) for
        x*sigmoid(x), exp through exp2, online softmax, Welford);
  (ii)  cheats: inputs (and weights) rounded to TF32 (low 13 mantissa bits zeroed), fp16 or bf16, then the
        same fp32 op;
  (iii) informational: tl.dot's multi-pass modes emulated (tf32x3, bf16x3, bf16x6), and fp32 formulas with
        known cancellation (one-pass variance, log(1+exp(x))), to see where they land.

For each run: the error vs fp64 of the candidate and of the fp32 reference under three measures (relative
RMS, max abs normalised by max |ref64|, mean relative with a guard), their ratio, the verdict of
tritonwright.eval.precision.ground_truth under every policy, and the elementwise check at today's fp32
tolerance and at each policy's. Writes bench/results/<date>-cpu-precision-k/results.{json,md}.

    .venv/bin/python bench/precision_k.py [--out DIR] [--seeds N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tritonwright.eval.precision import (  # noqa: E402  (after the path set-up, so a plain checkout runs)
    GroundTruthStatus,
    Policy,
    elementwise_tolerance,
    ground_truth,
    round_to_tf32,
)

Fn = Callable[..., torch.Tensor]
LOG2E = 1.0 / math.log(2.0)
SEEDS = 4  # input sets per case and distribution: min/median/max need a few; 4 keeps the run under 2 minutes
SIDE = ("scaled", "limits")  # groups shown per case but kept out of K's choice (the docstrings of their makers)
GUARD = 1e-3  # mean-relative measure: |ref64| below 1e-3 x its RMS counts as 1e-3 x RMS (zeros would divide)


# ----------------------------------------------------------------------------------------------- rounding

def _fp16(t: torch.Tensor) -> torch.Tensor:
    return t.half().float()


def _bf16(t: torch.Tensor) -> torch.Tensor:
    return t.bfloat16().float()


CHEATS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"tf32": round_to_tf32, "fp16": _fp16, "bf16": _bf16}
MATCHING = {"tf32": Policy.TF32, "fp16": Policy.FP16, "bf16": Policy.BF16}  # the policy each cheat belongs to


# ----------------------------------------------------------------------------------------------- variants

def mm_kblock(block: int, reverse: bool = False) -> Fn:
    """Triton's K loop: acc += dot(A[:, k:k+B], B[k:k+B, :]), blocks in order (or reversed)."""
    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        starts = list(range(0, a.shape[-1], block))
        acc = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)
        for k in reversed(starts) if reverse else starts:
            acc += a[:, k:k + block] @ b[k:k + block]
        return acc
    return f


def mm_splitk(parts: int) -> Fn:
    """Split-K: partial products over K/parts each, then a pairwise sum of the partials."""
    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        step = a.shape[1] // parts
        ps = [a[:, i * step:(i + 1) * step] @ b[i * step:(i + 1) * step] for i in range(parts)]
        while len(ps) > 1:
            ps = [ps[i] + ps[i + 1] if i + 1 < len(ps) else ps[i] for i in range(0, len(ps), 2)]
        return ps[0]
    return f


def mm_rank1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """One fp32 rank-1 update per k: the plainest sequential accumulation, two roundings per step."""
    acc = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)
    for k in range(a.shape[1]):
        acc += a[:, k:k + 1] * b[k:k + 1, :]
    return acc


def _split(t: torch.Tensor, rnd: Callable[[torch.Tensor], torch.Tensor], n: int) -> list[torch.Tensor]:
    parts = []
    for _ in range(n):
        parts.append(rnd(t))
        t = t - parts[-1]
    return parts


def mm_multipass(rnd: Callable[[torch.Tensor], torch.Tensor], n: int, pairs: Sequence[tuple[int, int]]) -> Fn:
    """tl.dot's tf32x3/bf16x3/bf16x6: operands split into n rounded pieces, the listed piece products summed
    smallest first (each product of two short mantissas is exact in fp32)."""
    def f(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pa, pb = _split(a, rnd, n), _split(b, rnd, n)
        acc = torch.zeros(a.shape[0], b.shape[1], dtype=a.dtype)
        for i, j in sorted(pairs, key=lambda p: -(p[0] + p[1])):
            acc += pa[i] @ pb[j]
        return acc
    return f


def linear_act(mm: Fn | None, act: str, bias_first: bool = False) -> Fn:
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if mm is None:
            y = F.linear(x, w, b)
        elif bias_first:  # accumulator initialised with the bias, then the K loop
            y = b + mm(x, w.t().contiguous())
        else:
            y = mm(x, w.t().contiguous()) + b
        return _act(y, act)
    return f


def _act(y: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return torch.relu(y)
    if act == "swish":
        return y * torch.sigmoid(y)
    if act == "swish_div":
        return y / (1 + torch.exp(-y))
    if act == "swish_exp2":
        return y / (1 + torch.exp2(-y * LOG2E))
    raise ValueError(act)


def softmax_exp2(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp2((x - x.max(-1, keepdim=True).values) * LOG2E)
    return e / e.sum(-1, keepdim=True)


def softmax_recip(x: torch.Tensor) -> torch.Tensor:
    e = torch.exp(x - x.max(-1, keepdim=True).values)
    return e * (1.0 / e.sum(-1, keepdim=True))


def softmax_online(block: int) -> Fn:
    """One pass over column blocks with a running max and a rescaled running sum (online softmax)."""
    def f(x: torch.Tensor) -> torch.Tensor:
        m = torch.full((x.shape[0], 1), -math.inf, dtype=x.dtype)
        s = torch.zeros((x.shape[0], 1), dtype=x.dtype)
        for c in range(0, x.shape[1], block):
            blk = x[:, c:c + block]
            m_new = torch.maximum(m, blk.max(-1, keepdim=True).values)
            s = s * torch.exp(m - m_new) + torch.exp(blk - m_new).sum(-1, keepdim=True)
            m = m_new
        return torch.exp(x - m) / s
    return f


def _blocked_sum(x: torch.Tensor, block: int, reverse: bool) -> torch.Tensor:
    parts = [x[..., c:c + block].sum(-1, keepdim=True) for c in range(0, x.shape[-1], block)]
    acc = torch.zeros_like(parts[0])
    for p in reversed(parts) if reverse else parts:
        acc = acc + p
    return acc


def layernorm_twopass(block: int) -> Fn:
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        mean = _blocked_sum(x, block, True) / n
        d = x - mean
        var = _blocked_sum(d * d, block, False) / n
        return d * torch.rsqrt(var + 1e-5) * w + b
    return f


def layernorm_welford(block: int) -> Fn:
    """Per-block mean and M2, merged block by block (Chan et al.), as a Welford-style Triton kernel does."""
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        cnt, mean, m2 = 0, torch.zeros(x.shape[0], 1), torch.zeros(x.shape[0], 1)
        for c in range(0, x.shape[1], block):
            blk = x[:, c:c + block]
            nb = blk.shape[1]
            mb = blk.mean(-1, keepdim=True)
            m2b = ((blk - mb) ** 2).sum(-1, keepdim=True)
            delta = mb - mean
            tot = cnt + nb
            mean = mean + delta * (nb / tot)
            m2 = m2 + m2b + delta * delta * (cnt * nb / tot)
            cnt = tot
        return (x - mean) / torch.sqrt(m2 / cnt + 1e-5) * w + b
    return f


def layernorm_onepass(block: int) -> Fn:
    """var = E[x^2] - E[x]^2 from blocked sums: one pass, cancels when the mean is large against the spread."""
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        mean = _blocked_sum(x, block, False) / n
        var = _blocked_sum(x * x, block, False) / n - mean * mean
        return (x - mean) * torch.rsqrt(var + 1e-5) * w + b
    return f


def ref_layernorm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], w, b, 1e-5)


def sum_blocked(block: int, reverse: bool) -> Fn:
    def f(x: torch.Tensor) -> torch.Tensor:
        return _blocked_sum(x, block, reverse).squeeze(-1)
    return f


def sum_seq(x: torch.Tensor) -> torch.Tensor:
    acc = torch.zeros(x.shape[:-1], dtype=x.dtype)
    for c in range(x.shape[-1]):
        acc = acc + x[..., c]
    return acc


def sum_tree(x: torch.Tensor) -> torch.Tensor:
    while x.shape[-1] > 1:
        half = x.shape[-1] // 2
        x = x[..., :half] + x[..., half:2 * half] if x.shape[-1] % 2 == 0 else torch.cat(
            [x[..., :half] + x[..., half:2 * half], x[..., -1:]], -1)
    return x.squeeze(-1)


def mean_dim1_blocked(x: torch.Tensor) -> torch.Tensor:
    return sum_blocked(256, True)(x.transpose(1, 2)) / x.shape[1]


def ref_conv(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, b, padding=1)


def conv_taps(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Direct convolution: one 1x1 convolution (a matmul over channels) per filter tap, accumulated in order."""
    xp = F.pad(x, (1, 1, 1, 1))
    h, wd = x.shape[2], x.shape[3]
    acc = torch.zeros(x.shape[0], w.shape[0], h, wd, dtype=x.dtype)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            acc += torch.einsum("nchw,oc->nohw", xp[:, :, i:i + h, j:j + wd], w[:, :, i, j])
    return acc + b[None, :, None, None]


def conv_im2col(block: int) -> Fn:
    """im2col then a K loop over C*9 in blocks, reversed: an implicit-GEMM Triton kernel's order, turned."""
    def f(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, w.shape[2:], padding=1)  # (N, C*kh*kw, L)
        wm = w.reshape(w.shape[0], -1)
        out = torch.stack([mm_kblock(block, True)(wm, c) for c in cols])  # (N, O, L)
        return out.reshape(x.shape[0], w.shape[0], x.shape[2], x.shape[3]) + b[None, :, None, None]
    return f


def gelu_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """0.5(1 + tanh(z)) == sigmoid(2z): the tanh-GELU written with a sigmoid, the cube in Horner form."""
    z = math.sqrt(2 / math.pi) * x * (1 + 0.044715 * x * x)
    return x * torch.sigmoid(2 * z)


def gelu_exp2(x: torch.Tensor) -> torch.Tensor:
    z = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    return x / (1 + torch.exp2(-2 * z * LOG2E))


def softplus_stable(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp_min(x, 0) + torch.log1p(torch.exp(-x.abs()))


def softplus_naive(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)): 1 + exp(x) rounds away exp(x)'s low bits when exp(x) is small (x well below 0)."""
    return torch.log(1 + torch.exp(x))


def mish_exp2(x: torch.Tensor) -> torch.Tensor:
    sp = torch.clamp_min(x, 0) + torch.log1p(torch.exp2(-x.abs() * LOG2E))
    return x * torch.tanh(sp)


# ----------------------------------------------------------------------------------------------- cases

@dataclass
class Case:
    name: str
    op: str  # group in the tables: matmul, gemm+act, softmax, layernorm, reduction, conv2d, elementwise
    shapes: list[tuple[int, ...]]  # input shapes; weights are inputs too (cheats round them as well)
    ref: Fn
    legit: dict[str, Fn]
    info: dict[str, Fn] = field(default_factory=dict)
    dists: tuple[str, ...] = ("randn",)
    seeds: int = SEEDS


def _dist(name: str, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    if name == "randn":
        return torch.randn(shape, generator=g)
    if name == "rand":  # all positive: no cancellation, TF32 truncation biases every product the same way
        return torch.rand(shape, generator=g)
    if name == "wide":  # softmax logits with a larger spread (exp amplifies input rounding by |x|)
        return 4 * torch.randn(shape, generator=g)
    if name == "offset":  # mean 3, spread 1: one-pass variance cancels about 3 bits
        return 3 + torch.randn(shape, generator=g)
    raise ValueError(name)


def _inputs(case: Case, dist: str, seed: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs = [_dist(dist if i == 0 or case.op in ("matmul", "reduction", "limits") else "randn", s, g)
          for i, s in enumerate(case.shapes)]
    if case.op == "layernorm":  # affine weights near nn.LayerNorm's (1, 0), not identical to them
        xs[1], xs[2] = 1 + 0.1 * xs[1], 0.1 * xs[2]
    if case.op in ("gemm+act", "conv2d"):  # fan-in scaled weights, as nn.Linear/nn.Conv2d initialise them
        fan_in = math.prod(case.shapes[1][1:])
        xs[1] = xs[1] / math.sqrt(fan_in)
    return xs


def _matmul_case(m: int, k: int, n: int, rank1: bool) -> Case:
    legit: dict[str, Fn] = {"kblock32": mm_kblock(32), "kblock64_rev": mm_kblock(64, True), "splitk4": mm_splitk(4)}
    if rank1:
        legit["rank1_seq"] = mm_rank1
    info = {"tf32x3": mm_multipass(round_to_tf32, 2, [(0, 0), (0, 1), (1, 0)]),
            "bf16x3": mm_multipass(_bf16, 2, [(0, 0), (0, 1), (1, 0)]),
            "bf16x6": mm_multipass(_bf16, 3, [(0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (2, 0)])}
    return Case(f"matmul_{m}x{k}x{n}", "matmul", [(m, k), (k, n)], torch.matmul, legit, info, ("randn", "rand"))


def cases() -> list[Case]:
    return [
        _matmul_case(256, 4096, 256, True),
        _matmul_case(512, 512, 512, True),
        _matmul_case(2048, 1024, 64, False),
        _matmul_case(64, 4096, 1024, False),
        Case("linear_bias_relu", "gemm+act", [(256, 2048), (512, 2048), (512,)], linear_act(None, "relu"),
             {"kblock32": linear_act(mm_kblock(32), "relu"),
              "bias_first_kblock64": linear_act(mm_kblock(64), "relu", bias_first=True)}),
        Case("linear_bias_swish", "gemm+act", [(256, 2048), (512, 2048), (512,)], linear_act(None, "swish"),
             {"kblock32_div": linear_act(mm_kblock(32), "swish_div"),
              "kblock32_exp2": linear_act(mm_kblock(32), "swish_exp2")}),
        Case("softmax", "softmax", [(64, 8192)], lambda x: torch.softmax(x, -1),
             {"exp2": softmax_exp2, "recip_mul": softmax_recip, "online_b1024": softmax_online(1024)},
             dists=("randn", "wide")),
        Case("layernorm", "layernorm", [(64, 8192), (8192,), (8192,)], ref_layernorm,
             {"twopass_b1024": layernorm_twopass(1024), "welford_b512": layernorm_welford(512)},
             {"onepass_b1024": layernorm_onepass(1024)}, dists=("randn", "offset")),
        Case("sum_lastdim", "reduction", [(256, 4096)], lambda x: x.sum(-1),
             {"blocked128_rev": sum_blocked(128, True), "seq": sum_seq, "tree": sum_tree},
             dists=("randn", "rand")),
        Case("mean_dim1", "reduction", [(16, 2048, 64)], lambda x: x.mean(1),
             {"blocked256_rev": mean_dim1_blocked}, dists=("randn", "rand")),
        Case("conv2d_3x3", "conv2d", [(8, 32, 32, 32), (64, 32, 3, 3), (64,)], ref_conv,
             {"taps_seq": conv_taps, "im2col_kblock32_rev": conv_im2col(32)}, dists=("randn", "rand")),
        # Limits: longer reductions than the moderate sizes above, to show how the margins move with length.
        Case("sum_long_32768", "limits", [(64, 32768)], lambda x: x.sum(-1),
             {"blocked128_rev": sum_blocked(128, True), "seq": sum_seq}, dists=("randn", "rand"), seeds=2),
        Case("matmul_64x16384x64", "limits", [(64, 16384), (16384, 64)], torch.matmul,
             {"kblock32": mm_kblock(32), "rank1_seq": mm_rank1}, dists=("randn", "rand"), seeds=2),
        Case("swish", "elementwise", [(512, 512)], lambda x: F.silu(x),
             {"div_exp": lambda x: x / (1 + torch.exp(-x)), "exp2": lambda x: x / (1 + torch.exp2(-x * LOG2E))}),
        Case("gelu_tanh", "elementwise", [(512, 512)], lambda x: F.gelu(x, approximate="tanh"),
             {"sigmoid_horner": gelu_sigmoid, "exp2": gelu_exp2}),
        Case("softplus_mish", "elementwise", [(512, 512)], lambda x: F.mish(x),
             {"exp2_log1p": mish_exp2}),
        Case("softplus", "elementwise", [(512, 512)], F.softplus,
             {"stable_log1p": softplus_stable}, {"naive_log_1p_exp": softplus_naive}),
    ]


# ----------------------------------------------------------------------------------------------- measures

def measures(x: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Error of x against truth (float64) under the three measures compared."""
    e = (x.double() - truth).abs()
    rms_t = truth.pow(2).mean().sqrt().item()
    return {"rel_rms": (e.pow(2).sum().sqrt() / truth.pow(2).sum().sqrt()).item(),
            "max_norm": (e.max() / truth.abs().max()).item(),
            "mean_rel": (e / truth.abs().clamp_min(GUARD * rms_t)).mean().item()}


def _elementwise_ok(c: torch.Tensor, r: torch.Tensor, atol: float, rtol: float) -> bool:
    return bool(((c.double() - r.double()).abs() <= atol + rtol * r.double().abs()).all().item())


def _needed_atol(c: torch.Tensor, r: torch.Tensor, rtol: float) -> float:
    """Smallest atol, in units of max(1, RMS(ref)), that the elementwise check at this rtol needs."""
    d = (c.double() - r.double()).abs() - rtol * r.double().abs()
    return max(0.0, d.max().item()) / max(1.0, r.double().pow(2).mean().sqrt().item())


def run_one(kind: str, variant: str, cand: torch.Tensor, ref: torch.Tensor, truth: torch.Tensor) -> dict[str, Any]:
    m_c, m_r = measures(cand, truth), measures(ref, truth)
    row: dict[str, Any] = {"kind": kind, "variant": variant,
                           "err": m_c, "ref_err": m_r,
                           "ratio": {k: (m_c[k] / m_r[k] if m_r[k] > 0 else None) for k in m_c}}
    verdicts = {p.value: ground_truth(cand, ref, truth, p) for p in Policy}
    row["gt"] = {p: v.status.value for p, v in verdicts.items()}
    row["accepted_by"] = verdicts["fp32"].accepted_by
    row["bound_ratio"] = {p.value: m_c["rel_rms"] / max(m_r["rel_rms"], verdicts[p.value].floor or 0.0)
                          for p in Policy}  # what K each policy would need for this run
    row["elem_fp32_today"] = _elementwise_ok(cand, ref, 1e-4, 1e-4)
    row["elem_policy"] = {}
    for p in Policy:
        tol = elementwise_tolerance(p, ref)
        row["elem_policy"][p.value] = _elementwise_ok(cand, ref, tol.atol, tol.rtol)
    row["needed_atol"] = {p.value: _needed_atol(cand, ref, p.spec.tolerance.rtol) for p in Policy if p.value != "fp32"}
    return row


def run_case(case: Case, seeds: int) -> list[dict[str, Any]]:
    rows = []
    for dist in case.dists:
        for seed in range(seeds):
            xs = _inputs(case, dist, seed)
            ref = case.ref(*xs)
            truth = case.ref(*(x.double() for x in xs))
            base = {"case": case.name, "op": case.op, "dist": dist, "seed": seed}
            for name, fn in case.legit.items():
                rows.append(base | run_one("legit", name, fn(*xs), ref, truth))
            for name, fn in case.info.items():
                rows.append(base | run_one("info", name, fn(*xs), ref, truth))
            for name, rnd in CHEATS.items():
                rows.append(base | run_one("cheat", name, case.ref(*(rnd(x) for x in xs)), ref, truth))
    return rows


def run_scaled(seeds: int) -> list[dict[str, Any]]:
    """One matmul at three input scales: the ground-truth verdict must not move; today's check does."""
    rows = []
    for scale in (1e-2, 1.0, 1e2):
        for seed in range(seeds):
            g = torch.Generator().manual_seed(seed)
            a, b = scale * torch.randn(256, 4096, generator=g), scale * torch.randn(4096, 256, generator=g)
            ref, truth = a @ b, a.double() @ b.double()
            base = {"case": "matmul_256x4096x256_scaled", "op": "scaled", "dist": f"randn*{scale:g}", "seed": seed}
            rows.append(base | run_one("legit", "kblock32", mm_kblock(32)(a, b), ref, truth))
            for name, rnd in CHEATS.items():
                rows.append(base | run_one("cheat", name, rnd(a) @ rnd(b), ref, truth))
    return rows


# ----------------------------------------------------------------------------------------------- summary

def _stats(xs: list[float]) -> dict[str, float]:
    return {"min": min(xs), "median": statistics.median(xs), "max": max(xs), "n": len(xs)}


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"measures": {}, "per_case": [], "policies": {}}
    main = [r for r in rows if r["op"] not in SIDE]
    for m in ("rel_rms", "max_norm", "mean_rel"):
        legit = [r["ratio"][m] for r in main if r["kind"] == "legit" and r["ratio"][m] is not None]
        cheat = [r["ratio"][m] for r in main if r["kind"] == "cheat" and r["ratio"][m] is not None]
        logs = [math.log10(x) for x in legit if x > 0]
        out["measures"][m] = {"legit_max": max(legit), "cheat_min": min(cheat), "gap": min(cheat) / max(legit),
                              "legit_log10_sd": statistics.pstdev(logs) if len(logs) > 1 else None}
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["case"], r["dist"], r["kind"], r["variant"]), []).append(r)
    for (case, dist, kind, variant), rs in groups.items():
        out["per_case"].append({
            "case": case, "dist": dist, "kind": kind, "variant": variant,
            "ratio": _stats([r["ratio"]["rel_rms"] for r in rs if r["ratio"]["rel_rms"] is not None]),
            "cand_err_median": statistics.median(r["err"]["rel_rms"] for r in rs),
            "ref_err_median": statistics.median(r["ref_err"]["rel_rms"] for r in rs),
            "gt": {p.value: f"{sum(r['gt'][p.value] == 'pass' for r in rs)}/{len(rs)}" for p in Policy},
            "elem_fp32_today": f"{sum(r['elem_fp32_today'] for r in rs)}/{len(rs)}",
            "elem_policy": {p.value: f"{sum(r['elem_policy'][p.value] for r in rs)}/{len(rs)}" for p in Policy},
        })
    for p in Policy:
        legit = [r for r in main if r["kind"] == "legit"]
        match = [r for r in rows if r["kind"] == "cheat" and MATCHING[r["variant"]] is p and r["op"] != "limits"]
        foreign = [r for r in main if r["kind"] == "cheat" and MATCHING[r["variant"]].rank > p.rank]
        out["policies"][p.value] = {
            "k": p.spec.k, "floor": p.spec.floor,
            "atol": p.spec.tolerance.atol, "rtol": p.spec.tolerance.rtol,
            "legit_needed_k_max": max(r["bound_ratio"][p.value] for r in legit),
            "legit_pass": f"{sum(r['gt'][p.value] == 'pass' for r in legit)}/{len(legit)}",
            "matching_needed_k_max": max((r["bound_ratio"][p.value] for r in match), default=None),
            "matching_pass": f"{sum(r['gt'][p.value] == 'pass' for r in match)}/{len(match)}" if match else None,
            "matching_elem_pass": (f"{sum(r['elem_policy'][p.value] for r in match)}/{len(match)}"
                                   if match else None),
            "matching_needed_atol_max": max((r["needed_atol"][p.value] for r in match), default=None),
            "lower_cheats_needed_k_min": min((r["bound_ratio"][p.value] for r in foreign), default=None),
            "lower_cheats_fail": (f"{sum(r['gt'][p.value] == GroundTruthStatus.FAIL.value for r in foreign)}"
                                  f"/{len(foreign)}" if foreign else None),
        }
    return out


def _g(x: float | None, fmt: str = ".3g") -> str:
    return "-" if x is None else format(x, fmt)


def render(res: dict[str, Any]) -> str:
    env, s = res["env"], res["summary"]
    lines = ["# Precision policies: ground-truth factor K (CPU)", "",
             f"torch {env['torch']}, Python {env['python']}, CPU {env['cpu']} ({env['threads']} torch thread(s)), "
             f"{env['date']}; {res['wall_s']:.0f} s.", "",
             "Error = relative RMS vs a float64 run of the same op on the same inputs. `ratio` = candidate error / "
             "the fp32 reference's own error. Cheats round inputs and weights, then run the fp32 op. "
             "`needed K` = candidate error / max(reference error, the policy's floor): a run passes a policy "
             "when it is <= the policy's K.", "",
             "Groups `limits` (longer reductions) and `scaled` (one matmul at input scales 1e-2, 1, 1e2) are in the "
             "per-case table only, not in the two summary tables.", "",
             "## Which measure", "", "| measure | legit max ratio | cheat min ratio | gap | legit spread (sd log10) |",
             "|---|---|---|---|---|"]
    for m, d in s["measures"].items():
        lines.append(f"| {m} | {d['legit_max']:.3g} | {d['cheat_min']:.3g} | {d['gap']:.3g} | "
                     f"{_g(d['legit_log10_sd'], '.2f')} |")
    lines += ["", "## Policies", "",
              "| policy | K | floor | atol (x max(1, RMS ref)) | rtol | legit: needed K max (pass) | matching cheat: "
              "needed K max (pass, elementwise pass, needed atol max) | less precise cheats: needed K min (fail) |",
              "|---|---|---|---|---|---|---|---|"]
    for p, d in s["policies"].items():
        lines.append(f"| {p} | {d['k']:g} | {d['floor']:.3g} | {d['atol']:g} | {d['rtol']:g} | "
                     f"{d['legit_needed_k_max']:.3g} ({d['legit_pass']}) | "
                     f"{_g(d['matching_needed_k_max'])} ({d['matching_pass'] or '-'}, "
                     f"{d['matching_elem_pass'] or '-'}, {_g(d['matching_needed_atol_max'])}) | "
                     f"{_g(d['lower_cheats_needed_k_min'])} ({d['lower_cheats_fail'] or '-'}) |")
    lines += ["", "## Per case (relative RMS)", "",
              "| case | dist | kind | variant | ratio min | median | max | cand err | ref err | ground truth "
              "pass fp32/tf32/fp16/bf16 | elementwise today (1e-4) | elementwise per policy |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in s["per_case"]:
        r = c["ratio"]
        lines.append(f"| {c['case']} | {c['dist']} | {c['kind']} | {c['variant']} | {r['min']:.3g} | "
                     f"{r['median']:.3g} | {r['max']:.3g} | {c['cand_err_median']:.2g} | {c['ref_err_median']:.2g} | "
                     f"{' '.join(c['gt'].values())} | {c['elem_fp32_today']} | {' '.join(c['elem_policy'].values())} |")
    return "\n".join(lines) + "\n"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: platform's word is the best there is
        pass
    return platform.processor() or platform.machine()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="results folder (default bench/results/<date>-cpu-precision-k)")
    ap.add_argument("--seeds", type=int, default=SEEDS)
    args = ap.parse_args()
    today = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"{today}-cpu-precision-k"
    out.mkdir(parents=True, exist_ok=True)
    torch.set_float32_matmul_precision("highest")  # the default, made sure: CPU fp32 matmuls stay fp32
    torch.set_num_threads(1)  # the loops' thousands of small ops stalled on thread barriers on a shared 2-core
    # machine (one case: 165 s instead of 3); serial, the whole run takes ~30 s
    t0 = time.monotonic()
    rows: list[dict[str, Any]] = []
    for case in cases():
        t = time.monotonic()
        rows += run_case(case, min(args.seeds, case.seeds))
        print(f"{case.name}: {time.monotonic() - t:.1f} s", flush=True)
    rows += run_scaled(args.seeds)
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu": _cpu(),
           "threads": torch.get_num_threads(), "cores": os.cpu_count(), "date": today,
           "fp32_matmul_precision": torch.get_float32_matmul_precision()}
    res = {"env": env, "wall_s": time.monotonic() - t0, "summary": summarize(rows), "rows": rows}
    (out / "results.json").write_text(json.dumps(res, separators=(",", ":")))  # compact: ~1 k rows
    (out / "results.md").write_text(render(res))
    print(render(res).split("## Per case")[0])
    print(f"wrote {out}/results.md ({res['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
