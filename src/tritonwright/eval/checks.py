"""Output and input comparison against the reference (runs in the reference's child process).

Every check reports figures beside its verdict; nothing is sampled: every element of every output counts.
"""

from __future__ import annotations

from typing import Any

import torch

from tritonwright.eval import mismatch
from tritonwright.eval.types import OutputCheck, Tolerance, finite_or_none
from tritonwright.eval.wire import NotATensor

# Reductions run over chunks of this many elements so a 6 GB output does not need 12 GB of float64 scratch.
_CHUNK = 1 << 26


def as_output_list(value: Any) -> list[Any]:
    """forward() may return a tensor or a tuple/list of them; every element is checked."""
    if isinstance(value, tuple | list):
        return list(value)
    return [value]


def _chunks(t: torch.Tensor) -> list[torch.Tensor]:
    flat = t.reshape(-1)
    return [flat[i:i + _CHUNK] for i in range(0, flat.numel(), _CHUNK)] or [flat]


def _is_constant(t: torch.Tensor) -> tuple[bool, float | None]:
    """All elements equal (NaN counts as different). Returns (constant?, the value)."""
    if t.numel() == 0:
        return False, None
    flat = t.reshape(-1)
    first = flat[:1]
    if t.is_floating_point() and bool(torch.isnan(first).item()):
        return False, None
    same = torch.ones((), dtype=torch.bool, device=t.device)
    for chunk in _chunks(t):  # reduced on the device: one host sync for the whole tensor
        same &= (chunk == first).all()
    if not bool(same.item()):
        return False, None
    return True, float(first.item()) if t.dtype != torch.bool else float(bool(first.item()))


def compare_output(out: Any, ref: torch.Tensor, tol: Tolerance, trial: int, index: int,
                   config: str | None = None) -> OutputCheck:
    """Compare one candidate output with the reference: type, shape, dtype, NaN/Inf, tolerance, constancy."""
    shape = list(ref.shape)
    dtype = str(ref.dtype).removeprefix("torch.")
    check = OutputCheck(trial=trial, index=index, ok=False, shape=shape, dtype=dtype, numel=ref.numel(),
                        config=config)
    if isinstance(out, NotATensor):  # what came over the wire instead of a tensor's data
        check.reason = out.describe(index)
        if out.shape is not None and list(out.shape) != shape:
            check.reason = f"output {index} shape {list(out.shape)} != reference {shape}"
            check.shape = list(out.shape)
        elif out.dtype is not None and out.dtype != dtype:
            check.reason = f"output {index} dtype {out.dtype} != reference {dtype}"
        return check
    if not isinstance(out, torch.Tensor):
        check.reason = f"output {index} is a {type(out).__name__}, the reference returns a tensor"
        return check
    if list(out.shape) != shape:
        check.reason = f"output {index} shape {list(out.shape)} != reference {shape}"
        check.shape = list(out.shape)
        return check
    if out.dtype != ref.dtype:
        check.reason = f"output {index} dtype {str(out.dtype).removeprefix('torch.')} != reference {dtype}"
        return check
    out = out.to(ref.device)
    if not ref.is_floating_point() and not ref.is_complex():
        mism = int((out != ref).sum().item())
        check.mismatched = mism
        check.max_abs_err = float((out.to(torch.float64) - ref.to(torch.float64)).abs().max().item()) \
            if ref.numel() else 0.0
        check.ok = mism == 0
        if not check.ok:
            check.reason = f"output {index}: {mism} of {ref.numel()} elements differ (integer output, exact match)"
        return check
    _compare_float(out, ref, tol, check)
    return check


def _compare_float(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance, check: OutputCheck) -> None:
    i = check.index
    # Sums and maxima stay on the device until the end: one host sync per output instead of six per chunk
    # (a 6 GB output has 25 chunks; the syncs, not the arithmetic, were most of a check's time).
    # Slots: bad NaN, bad Inf, outside tolerance, max abs, max rel, sum diff^2, sum ref^2 (float64: counts exact).
    acc = torch.zeros(7, dtype=torch.float64, device=ref.device)
    for o, r in zip(_chunks(out), _chunks(ref), strict=True):
        o64, r64 = o.to(torch.float64), r.to(torch.float64)
        o_nan, r_nan = torch.isnan(o64), torch.isnan(r64)
        acc[0] += (o_nan != r_nan).sum()  # NaN only where the reference has NaN
        o_inf, r_inf = torch.isinf(o64), torch.isinf(r64)
        acc[1] += ((o_inf | r_inf) & (o64 != r64) & ~(o_nan | r_nan)).sum()
        finite = torch.isfinite(o64) & torch.isfinite(r64)
        d = (o64 - r64).abs().masked_fill(~finite, 0.0)
        allowed = tol.atol + tol.rtol * r64.abs()
        acc[2] += ((d > allowed) & finite).sum()
        if d.numel():
            acc[3] = torch.maximum(acc[3], d.max())
            rel = d / r64.abs().clamp_min(1e-12)
            acc[4] = torch.maximum(acc[4], rel.masked_fill(~finite, 0.0).max())
        acc[5] += (d * d).sum()
        acc[6] += (r64.masked_fill(~finite, 0.0) ** 2).sum()
    bad_nan_f, bad_inf_f, mism_f, max_abs, max_rel, diff_sq, ref_sq = acc.tolist()
    bad_nan, bad_inf, mism = int(bad_nan_f), int(bad_inf_f), int(mism_f)
    check.max_abs_err = finite_or_none(max_abs)
    check.max_rel_err = finite_or_none(max_rel)
    check.rel_l2_err = finite_or_none(diff_sq ** 0.5 / ref_sq ** 0.5) if ref_sq > 0 else (
        0.0 if diff_sq == 0 else None)
    check.mismatched = mism + bad_nan + bad_inf
    if bad_nan:
        check.reason = f"output {i}: {bad_nan} NaN where the reference has none (or the reverse)" + _shape_of_error(out, ref, tol)
        return
    if bad_inf:
        check.reason = f"output {i}: {bad_inf} Inf values differ from the reference" + _shape_of_error(out, ref, tol)
        return
    if mism:
        check.reason = (f"output {i}: {mism} of {ref.numel()} elements outside atol={tol.atol:g} rtol={tol.rtol:g}"
                        f" (max abs err {max_abs:.3g}, max rel err {max_rel:.3g})" + _shape_of_error(out, ref, tol))
        return
    out_const, value = _is_constant(out)
    if out_const and not _is_constant(ref)[0]:
        # A constant output passes tolerance checks when the reference's values are tiny; it is never right.
        check.reason = f"output {i} is constant ({value:g}) where the reference is not"
        return
    check.ok = True


def _shape_of_error(out: torch.Tensor, ref: torch.Tensor, tol: Tolerance) -> str:
    """What the error looks like (eval.mismatch), appended to a MISMATCH reason."""
    words = mismatch.describe(out, ref, tol)
    return f": {words}" if words else ""


def compare_inputs(cand_after: list[torch.Tensor], ref_after: list[torch.Tensor], pristine: list[torch.Tensor],
                   tol_for: Any) -> str | None:
    """Inputs may change only where the reference changes them too. Returns a reason or None."""
    for i, (c, r, p) in enumerate(zip(cand_after, ref_after, pristine, strict=True)):
        c = c.to(p.device)
        ref_changed = not _equal(r, p)
        if not ref_changed:
            if not _equal(c, p):
                return f"input {i} was modified by ModelNew.forward (the reference leaves it unchanged)"
            continue
        t = tol_for(str(r.dtype).removeprefix("torch."))
        if r.is_floating_point():
            if not torch.allclose(c.to(r.dtype), r, atol=t.atol, rtol=t.rtol, equal_nan=True):
                return f"input {i} after forward differs from the reference's in-place result"
        elif not _equal(c, r):
            return f"input {i} after forward differs from the reference's in-place result"
    return None


def _equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point():
        return all(bool(((x == y) | (torch.isnan(x) & torch.isnan(y))).all().item())
                   for x, y in zip(_chunks(a), _chunks(b), strict=True))
    return all(bool((x == y).all().item()) for x, y in zip(_chunks(a), _chunks(b), strict=True))
