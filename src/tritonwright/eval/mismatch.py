"""What a wrong output looks like, in words a repair prompt can use.

    describe(out, ref, tol) -> str   # "" when nothing specific can be said

Given a candidate output and the reference (same shape and dtype, floating point, CPU or GPU, possibly
gigabytes), one pass over whole-row chunks collects a few reductions and names the shape of the error:
NaN/Inf placement, a wrong region (an index range along some dimension, a tail past a block multiple, int32
overflow), a wrong scale, sign or offset, or a uniform small relative error (reduced precision).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field

import torch

from tritonwright.eval.types import Tolerance

_CHUNK = 1 << 26  # elements per pass step, as checks.py: float64 scratch stays at a few hundred MB
_MAX_ROWS = 1 << 24  # per-row flags kept for the region analysis (16 MB of bools); more rows: flat analysis only
_MAX_COLS = 1 << 22  # per-column counts (32 MB of int64); wider last dims: flat analysis only
_MIN_BLOCK = 16  # a region start divisible by >= 16 looks like a block edge; smaller powers of two are chance
_INT32_EDGE = 2 ** 31  # element offsets computed in int32 wrap here
_INT32_SLACK = 1 << 16  # overflow starts in the block that crosses 2^31; no real block is larger than this
_FIT_SHARE = 0.1  # a scale/offset fit must leave <= 10% of the error's L2 norm to explain it (99% of its energy)
_PRECISION_LOW, _PRECISION_HIGH = 1e-6, 2e-2  # fp32 reordering noise sits below 1e-6 and passes; bf16 (unit
# roundoff 3.9e-3) summed over a reduction stays below 2e-2, a logic error is usually larger
_OUTLIER = 30.0  # rounding noise is near-Gaussian (max over 1e9 samples ~6 RMS); 30 RMS means a real outlier
_SHOW = 4  # indices listed for a scattered set


@dataclass
class _Stats:
    numel: int = 0
    bad: int = 0
    first_bad: int = -1
    last_bad: int = -1
    new_nan: int = 0
    first_nan: int = -1
    new_inf: int = 0
    first_inf: int = -1
    n_fin: int = 0
    s_or: float = 0.0
    s_rr: float = 0.0
    s_oo: float = 0.0
    s_d: float = 0.0
    s_dd: float = 0.0
    s_ee: float = 0.0  # tolerance-normalised error, squared
    max_e: float = 0.0
    rows: list[torch.Tensor] = field(default_factory=list)
    cols: torch.Tensor | None = None


def _first_last(mask: torch.Tensor, offset: int) -> tuple[int, int]:
    """Flat positions (plus offset) of the first and last True; argmax returns the first maximum."""
    flat = mask.reshape(-1).to(torch.uint8)
    if not bool(flat.any().item()):
        return -1, -1
    lo = int(flat.argmax().item())
    hi = flat.numel() - 1 - int(flat.flip(0).argmax().item())
    return offset + lo, offset + hi


def _collect(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance) -> tuple[_Stats, int, int]:
    numel = ref.numel()
    cols = ref.shape[-1] if ref.dim() >= 1 and ref.shape[-1] > 0 else 1
    rows = numel // cols
    track_rows = ref.dim() >= 2 and rows <= _MAX_ROWS
    track_cols = cols <= _MAX_COLS
    st = _Stats(numel=numel)
    o_all, r_all = out.reshape(rows, cols), ref.reshape(rows, cols)
    step = max(1, _CHUNK // cols)
    floor = tol.atol / tol.rtol if tol.rtol > 0 else 1.0  # below this |ref| the tolerance is absolute
    for r0 in range(0, rows, step):
        o = o_all[r0:r0 + step].to(torch.float64)
        r = r_all[r0:r0 + step].to(torch.float64)
        offset = r0 * cols
        o_nan, r_nan = torch.isnan(o), torch.isnan(r)
        o_inf, r_inf = torch.isinf(o), torch.isinf(r)
        d = (o - r).abs()
        ok = (d <= tol.atol + tol.rtol * r.abs()) | (o == r) | (o_nan & r_nan)
        bad = ~ok
        n_bad = int(bad.sum().item())
        if n_bad:
            lo, hi = _first_last(bad, offset)
            st.first_bad = lo if st.first_bad < 0 else st.first_bad
            st.last_bad = hi
            st.bad += n_bad
        nan_new = o_nan & ~r_nan
        k = int(nan_new.sum().item())
        if k:
            st.first_nan = _first_last(nan_new, offset)[0] if st.first_nan < 0 else st.first_nan
            st.new_nan += k
        inf_new = o_inf & ~r_inf
        k = int(inf_new.sum().item())
        if k:
            st.first_inf = _first_last(inf_new, offset)[0] if st.first_inf < 0 else st.first_inf
            st.new_inf += k
        fin = torch.isfinite(o) & torch.isfinite(r)
        of, rf = o.masked_fill(~fin, 0.0), r.masked_fill(~fin, 0.0)
        df = of - rf
        st.n_fin += int(fin.sum().item())
        st.s_or += float((of * rf).sum().item())
        st.s_rr += float((rf * rf).sum().item())
        st.s_oo += float((of * of).sum().item())
        st.s_d += float(df.sum().item())
        st.s_dd += float((df * df).sum().item())
        e = df.abs() / rf.abs().clamp_min(floor)
        st.s_ee += float((e * e).sum().item())
        if e.numel():
            st.max_e = max(st.max_e, float(e.max().item()))
        if track_rows:
            st.rows.append(bad.any(dim=1).cpu())
        if track_cols:
            c = bad.sum(dim=0).cpu()
            st.cols = c if st.cols is None else st.cols + c
    return st, rows if track_rows else -1, cols if track_cols else -1


def _pow2(n: int) -> int:
    """Largest power of two dividing n (n > 0)."""
    return n & -n


def _block_note(start: int) -> str:
    p = min(_pow2(start), 1 << 20) if start > 0 else 0
    return f" ({start} is a multiple of {p}: a block edge)" if p >= _MIN_BLOCK else ""


def _describe_set(flags: torch.Tensor, dim: int, size: int) -> tuple[str, bool] | None:
    """Words for the indices along one dimension that hold wrong values; None when every index does.
    The flag says whether the set is one contiguous range (a region) rather than scattered indices."""
    idx = torch.nonzero(flags).reshape(-1)
    n = idx.numel()
    if n == 0 or n == size:
        return None
    lo, hi = int(idx[0].item()), int(idx[-1].item())
    if hi - lo + 1 == n:
        if hi == size - 1 and lo > 0:
            return (f"dim {dim} from index {lo} on (of {size}){_block_note(lo)}: the last block's mask or the grid "
                    "along this dim", True)
        if lo == hi:
            return f"dim {dim} index {lo} (of {size})", True
        if lo == 0:
            return f"dim {dim} indices 0..{hi} (of {size})", True
        return f"dim {dim} indices {lo}..{hi} (of {size})", True
    shown = ", ".join(str(int(i)) for i in idx[:_SHOW].tolist())
    return f"dim {dim}: {n} of {size} indices ({shown}{', ...' if n > _SHOW else ''})", False


def _index(flat: int, shape: tuple[int, ...]) -> str:
    out = []
    for s in reversed(shape):
        out.append(flat % s if s else 0)
        flat = flat // s if s else 0
    return "[" + ", ".join(str(i) for i in reversed(out)) + "]"


def _region(st: _Stats, shape: tuple[int, ...], rows: int, cols: int) -> tuple[list[str], bool]:
    """Descriptions of where the wrong values are; the flag says a contiguous region was found."""
    parts: list[str] = []
    region = False
    if st.bad == 0:
        return parts, region
    tail = st.last_bad == st.numel - 1 and st.bad == st.numel - st.first_bad and st.first_bad > 0
    if st.numel > _INT32_EDGE and st.first_bad >= _INT32_EDGE - _INT32_SLACK:
        parts.append(f"every wrong element lies past flat index {st.first_bad} (~2^31): int32 index overflow; "
                     "compute offsets in int64 (e.g. pid.to(tl.int64) * BLOCK)")
        return parts, True
    if st.bad == 1:
        return [f"one wrong element, at {_index(st.first_bad, shape)}"], True
    if tail and (len(shape) <= 1 or st.first_bad % shape[-1]):
        parts.append(f"elements from flat index {st.first_bad} ({_index(st.first_bad, shape)}) on are wrong, all before are right"
                     f"{_block_note(st.first_bad)}: the last block's mask or the grid size")
        return parts, True
    dims: list[tuple[str, bool]] = []
    if rows > 0 and st.rows:
        row_flags = torch.cat(st.rows)
        lead = shape[:-1]
        bad_rows = torch.nonzero(row_flags).reshape(-1)
        for d, size in enumerate(lead):
            stride = math.prod(lead[d + 1:])
            present = torch.zeros(size, dtype=torch.bool)
            present[(bad_rows // stride) % size] = True
            got = _describe_set(present, d, size)
            if got:
                dims.append(got)
    if cols > 0 and st.cols is not None:
        got = _describe_set(st.cols > 0, len(shape) - 1, cols)
        if got:
            dims.append(got)
    if dims and all(c for _, c in dims):
        parts.append("wrong values only at " + "; ".join(t for t, _ in dims))
        region = True
    elif tail:
        parts.append(f"elements from flat index {st.first_bad} ({_index(st.first_bad, shape)}) on are wrong, all "
                     f"before are right{_block_note(st.first_bad)}: the last block's mask or the grid size")
        region = True
    elif dims:
        parts.append("wrong values scattered: " + "; ".join(t for t, _ in dims))
    return parts, region


def _dot_precision_fix() -> str:
    try:
        import triton.language as tl

        params = inspect.signature(tl.dot).parameters
    except Exception:  # no Triton here: name both spellings
        return "input_precision=\"ieee\" (allow_tf32=False before Triton 3.0) in tl.dot"
    if "input_precision" in params:
        return "input_precision=\"ieee\" in tl.dot"
    return "allow_tf32=False in tl.dot"


def _ratio_words(c: float) -> str:
    for n in range(2, 4097):
        if abs(c - n) < 1e-3 * n:
            return f" (= {n})"
        if abs(c * n - 1) < 1e-3:
            return f" (= 1/{n})"
    return ""


_ROUNDING_BIAS = 2.0 ** -8  # a scale off 1 by less than bf16's unit roundoff is no constant an LLM forgets (the
# nearest, 1/N for N <= 4096 or sqrt(2), are off by far more); an fp32 matmul with TF32-truncated operands over
# K = 131072 measured 0.998903 x the reference on an H200 (bench/results/2026-12-04-H200-replay)


def _scale_or_offset(st: _Stats, tol: Tolerance) -> str | None:
    if st.n_fin == 0 or st.s_rr == 0 or st.s_dd == 0:
        return None
    err = math.sqrt(st.s_dd)
    c = st.s_or / st.s_rr
    resid = math.sqrt(max(st.s_oo - 2 * c * st.s_or + c * c * st.s_rr, 0.0))
    if resid <= _FIT_SHARE * err and abs(c - 1) > tol.rtol:
        if abs(c + 1) <= 10 * tol.rtol:
            return "out ≈ -ref: the sign is flipped"
        if abs(c) <= tol.rtol:
            return "out ≈ 0 where the reference is not: the result is never computed or never stored"
        if abs(c - 1) < _ROUNDING_BIAS:
            return (f"out ≈ {c:.6g} × ref: a uniform bias of {abs(c - 1):.2g}, too small for a missing constant: "
                    f"looks like rounding that leans one way over a long sum (TF32/fp16 inputs truncated, or "
                    f"low-precision accumulation)")
        return f"out ≈ {c:.6g} × ref{_ratio_words(c)}: a wrong scale factor (a missing or extra constant, 1/N, sqrt)"
    mean = st.s_d / st.n_fin
    var = max(st.s_dd / st.n_fin - mean * mean, 0.0)
    if abs(mean) > tol.atol and math.sqrt(var) <= _FIT_SHARE * abs(mean):
        return f"out ≈ ref + {mean:.4g}: a constant offset (a bias added twice or missing)"
    return None


def describe(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance) -> str:
    """A short description of how `out` differs from `ref`, for a MISMATCH reason ("" if nothing stands out)."""
    if out.shape != ref.shape or not ref.is_floating_point() or ref.numel() == 0:
        return ""
    out = out.to(ref.device)
    shape = tuple(ref.shape)
    st, rows, cols = _collect(out, ref, tol)
    parts: list[str] = []
    if st.new_nan or st.new_inf:
        what = []
        if st.new_nan:
            what.append(f"{st.new_nan} NaN (first at {_index(st.first_nan, shape)})")
        if st.new_inf:
            what.append(f"{st.new_inf} Inf (first at {_index(st.first_inf, shape)})")
        parts.append(" and ".join(what) + " where the reference is finite: elements never written (the judge fills "
                     "torch.empty memory with NaN) or a division by zero, log/sqrt of a negative, exp overflow")
    where, region = _region(st, shape, rows, cols)
    parts.extend(where)
    if not region and not (st.new_nan or st.new_inf):
        fit = _scale_or_offset(st, tol)
        if fit:
            parts.append(fit)
        elif st.n_fin:
            rms_e = math.sqrt(st.s_ee / st.n_fin)
            if _PRECISION_LOW <= rms_e <= _PRECISION_HIGH and st.max_e <= _OUTLIER * rms_e:
                parts.append(f"the error is small and spread evenly (RMS relative error {rms_e:.2g}, no region, no "
                             "outliers): looks like reduced precision (TF32 tl.dot, the default for fp32 inputs, or "
                             f"fp16/bf16 inputs or intermediates): use {_dot_precision_fix()}, or keep fp32")
    return "; ".join(parts)
