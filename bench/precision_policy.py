"""The precision policies on real kernels (issue 15 part 5): verdicts, errors against fp64, and speed-ups
against baselines of the same precision, per case and policy, on a GPU.

    PYTHONPATH=src python3 bench/precision_policy.py --out DIR [--continue DIR] [--only a,b]
                                                     [--policies fp32,tf32] [--budget-s 480] [--redo a@fp32]
    PYTHONPATH=src python3 bench/precision_policy.py --smoke --out DIR ...   # CPU, interpreter, small sizes

Cases:
1. the bench suite: the six examples (examples/<name>/candidate.py), at KernelBench sizes;
2. LLM-style fp32 kernels written here: a 2048^3 fp32 matmul whose tiles reach tl.dot four ways (TF32 by
   default, input_precision="ieee", cast to fp16, cast to bf16), a blocked row sum of a (4096, 8192) fp32
   tensor (another order of the additions, a legitimate change), and SiLU written as x / (1 + exp(-x)) on
   4096 x 14336 (an LLM MLP's activations).

Each case runs under its default policies (every policy for the LLM-style kernels; fp32 and the one that
suits the example otherwise), or under --policies for all. One entry is an evaluation with both baselines
(eager and torch.compile, run as the policy says: fp32 with TF32 off, TF32, or the Model cast to fp16/bf16),
recording the verdict, each output's relative RMS error against a float64 run of the reference (fp64_err),
the fp32 reference's own (ref_fp64_err), their ratio, the error over what the policy allows (K times the
larger of the reference's error and the policy's floor) and the ground-truth verdict, the precision the kernel source shows (eval.precision.detect_precision) and the advice a rejection
carries, the candidate's, eager and compile medians, and the wall time.

DIR/results.json holds the environment (GPU, driver, CUDA, torch, triton, Python) and one entry per
case@policy, written as each finishes; DIR/results.md the table. With --continue, entries already in that
folder's results.json are kept (--redo names ones to measure again), so a run spans several 10-minute device
commands; --budget-s starts no new entry after that many seconds. --smoke runs the same matrix on a CPU in
Triton's interpreter at small sizes with one trial and no timing, to test the script without a GPU (the
bf16-cast matmul is skipped there: the interpreter's bf16 tl.dot is wrong). Run from the repository root.

Time on an H200: the default 36 entries take about 5 minutes. An evaluation whose baselines are cached (the
four matmul variants share them per policy) takes 2-4 s, one that runs torch.compile 8-15 s
(bench/results/2026-12-04-H200-tuner), a rejected one 2-3 s (no timing, no baselines).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ("fp32", "tf32", "fp16", "bf16")  # eval.precision.Policy, most precise first
BUDGET_S = 480.0  # of a 10-minute device command: no new entry after 8 minutes, leaving ~2 for the last one
REASON_CHARS = 500  # of a reason's last line: the verdict and its advice fit, a traceback does not
OUTPUT_ROWS = 12  # per-output checks kept per entry: 3 trials x a few outputs, not every autotune config

# ----------------------------------------------------------------------------------------------- kernels

# One fp32 matmul, the operands of tl.dot chosen per variant (DOT below). Plain pointer arithmetic and
# masks, so any M, N, K work (the smoke sizes are not multiples of the tiles).
MATMUL = '''"""fp32 C = A @ B: 128x128 tiles of C, K in steps of 32; tl.dot gets DOT_WHAT."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        ks = k0 + rk
        a = tl.load(a_ptr + rm[:, None] * K + ks[None, :], mask=(rm[:, None] < M) & (ks[None, :] < K), other=0.0)
        b = tl.load(b_ptr + ks[:, None] * N + rn[None, :], mask=(ks[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += DOT_CALL
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a, b):
        a, b = a.contiguous(), b.contiguous()
        M, K = a.shape
        N = b.shape[1]
        c = torch.empty((M, N), device=a.device, dtype=torch.float32)
        grid = lambda META: (triton.cdiv(M, META["BLOCK_M"]), triton.cdiv(N, META["BLOCK_N"]))  # noqa: E731
        matmul_kernel[grid](a, b, c, M, N, K, BLOCK_M=128, BLOCK_N=128, BLOCK_K=32, num_warps=8, num_stages=3)
        return c
'''
DOTS: dict[str, tuple[str, str]] = {  # variant -> (the tl.dot call, what it gets, in words)
    "tf32dot": ("tl.dot(a, b)", "fp32 tiles at its default precision (TF32 on NVIDIA tensor cores)"),
    "ieee": ('tl.dot(a, b, input_precision="ieee")', "fp32 tiles with input_precision=ieee (exact fp32 products)"),
    "fp16cast": ("tl.dot(a.to(tl.float16), b.to(tl.float16))", "the tiles cast to fp16"),
    "bf16cast": ("tl.dot(a.to(tl.bfloat16), b.to(tl.bfloat16))", "the tiles cast to bf16"),
}

ROWSUM = '''"""Row sums: BLOCK lanes each add every BLOCK-th element of the row, then the lanes are summed as a tree."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def row_sum_kernel(x_ptr, y_ptr, n_cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for start in range(0, n_cols, BLOCK):
        mask = start + cols < n_cols
        acc += tl.load(x_ptr + row * stride + start + cols, mask=mask, other=0.0)
    tl.store(y_ptr + row, tl.sum(acc, axis=0))


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x = x.contiguous()
        n_cols = x.shape[-1]
        rows = x.numel() // n_cols
        y = torch.empty(x.shape[:-1], device=x.device, dtype=torch.float32)
        row_sum_kernel[(rows,)](x, y, n_cols, n_cols, BLOCK=1024, num_warps=4)
        return y
'''

SILU = '''"""SiLU (x * sigmoid(x)) as x / (1 + exp(-x)): one fused pass, the formula rewritten."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def silu_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    tl.store(y_ptr + offs, x / (1.0 + tl.exp(-x)), mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        n = x.numel()
        grid = lambda META: (triton.cdiv(n, META["BLOCK"]),)  # noqa: E731
        silu_kernel[grid](x, y, n, BLOCK=1024, num_warps=4)
        return y
'''

# ----------------------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    task: str  # task file, relative to the repository root
    candidate: str  # candidate file, or "" when `source` holds the code
    policies: tuple[str, ...]  # the policies it runs under unless --policies says otherwise
    smoke: dict[str, str]  # load_task overrides for --smoke: interpreter-sized
    source: str = ""
    overrides: dict[str, str] = field(default_factory=dict)  # on the GPU (none: the task's own sizes)
    smoke_skip: str = ""  # why --smoke does not evaluate it (the interpreter cannot run it), when it does not


EX = "examples"
# Measured with triton 3.9: the interpreter's tl.dot on bf16 operands returns values off by ~1e11 (fp16 and
# fp32 operands are right), so a smoke verdict on it would describe the interpreter, not the kernel.
BF16_DOT_SKIP = "Triton's interpreter computes tl.dot on bf16 operands wrongly: evaluated on a GPU only"
# The LLM-style kernels come first: when --budget-s stops a run early, the matmul variants are already measured.
CASES: dict[str, Case] = {
    # Smoke matmul: K = 96 sums three K steps; 40 x 48 leaves masked edges in one 128x128 tile.
    **{f"llm:matmul_{v}": Case("bench/tasks/precision/matmul.py", "", POLICIES, {"M": "40", "N": "48", "K": "96"},
                               MATMUL.replace("DOT_CALL", call).replace("DOT_WHAT", what),
                               smoke_skip=BF16_DOT_SKIP if v == "bf16cast" else "")
       for v, (call, what) in DOTS.items()},
    # The H200 replay's case (1_Square_matrix_multiplication_): an fp16-cast kernel on positive inputs at K=4096
    # erred 28x cuBLAS's fp32 error, under K; the lookalike rule (eval.precision) must reject it under fp32.
    # Beside it, on the same positive inputs: the IEEE kernel (legitimate: must pass under fp32, its serial fp32
    # accumulation errs like cuBLAS's) and the TF32 one (must fail under fp32 like the fp16 cast).
    **{f"llm:matmul_{v}_positive": Case(
        "bench/tasks/precision/matmul.py", "", ("fp32", pol), {"M": "40", "N": "48", "K": "512", "positive": "1"},
        MATMUL.replace("DOT_CALL", DOTS[v][0]).replace("DOT_WHAT", DOTS[v][1]),
        overrides={"M": "4096", "N": "4096", "K": "4096", "positive": "1"})
       for v, pol in (("fp16cast", "fp16"), ("ieee", "tf32"), ("tf32dot", "tf32"))},
    # Smoke row sum: 2500 columns are two full 1024-wide blocks and a masked third.
    "llm:rowsum_blocked": Case("bench/tasks/precision/rowsum.py", "", POLICIES, {"rows": "6", "cols": "2500"},
                               ROWSUM),
    # bench/tasks/swish.py (x * sigmoid(x)) at an LLM MLP's activation size, 4096 tokens x 14336 (Llama 3 8B),
    # not its KernelBench 4096 x 393216 (27x the bytes, seconds of fp64 reference per entry for the same verdict);
    # smoke: 4000 elements, a masked last block.
    "llm:silu_exp": Case("bench/tasks/swish.py", "", POLICIES, {"batch_size": "4", "dim": "1000"}, SILU,
                         overrides={"batch_size": "4096", "dim": "14336"}),
    # Examples: fp32, and the policy that suits them: bf16 for the fp32 memory-bound kernels (their speed-up then
    # faces a Model that moves half the bytes), tf32 for the convolution (PyTorch's conv in the candidate and in
    # the baselines runs TF32), fp16 for the fp16 tasks (the baselines are fp16 either way; the verdict may move).
    # Smoke sizes: the ones tests/test_examples_cpu.py checks in the interpreter.
    "elu": Case(f"{EX}/elu/task.py", f"{EX}/elu/candidate.py", ("fp32", "bf16"),
                {"batch_size": "8", "dim": "4000"}),
    "softmax": Case(f"{EX}/softmax/task.py", f"{EX}/softmax/candidate.py", ("fp32", "bf16"),
                    {"batch_size": "5", "dim": "5000"}),
    "layernorm": Case(f"{EX}/layernorm/task.py", f"{EX}/layernorm/candidate.py", ("fp32", "bf16"),
                      {"batch_size": "6", "hidden": "300"}),
    "matmul_fp16": Case(f"{EX}/matmul_fp16/task.py", f"{EX}/matmul_fp16/candidate.py", ("fp32", "fp16"),
                        {"M": "40", "N": "48", "K": "72"}),
    "gemm_bias_relu": Case(f"{EX}/gemm_bias_relu/task.py", f"{EX}/gemm_bias_relu/candidate.py", ("fp32", "fp16"),
                           {"batch_size": "40", "in_features": "64", "out_features": "48"}),
    "conv_mish_bn": Case(f"{EX}/conv_mish_bn/task.py", f"{EX}/conv_mish_bn/candidate.py", ("fp32", "tf32"),
                         {"batch_size": "2", "in_channels": "3", "out_channels": "4", "height": "10", "width": "10"}),
}


# ----------------------------------------------------------------------------------------------- one entry


def _ms(t: Any) -> float | None:
    return None if t is None else round(t.median_ms, 5)


def _ratio(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.4g}")  # 4 significant digits: tiny bound uses stay visible


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:REASON_CHARS] if lines else ""


def _summary_gt(values: list[str | None]) -> str:
    """One word for the outputs' ground-truth verdicts: fail if any failed, else the distinct ones."""
    seen = sorted({v for v in values if v})
    return "fail" if "fail" in seen else "/".join(seen) or "-"


def _bound_use(o: Any, policy: str) -> float | None:
    """fp64_err / what the policy allows (K x max(reference's error, floor)): above 1 fails the ground truth.
    The ratio alone misleads under reduced policies, whose floor (the format's roundoff) usually decides."""
    import torch

    from tritonwright.eval import precision

    if o.fp64_err is None or o.ref_fp64_err is None:
        return None
    dtype = getattr(torch, o.dtype.removeprefix("torch."), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        return None
    allowed, _ = precision._bound(precision.Policy(policy), o.ref_fp64_err, dtype)  # the check's own formula
    return o.fp64_err / allowed if allowed > 0 else None


def run_entry(name: str, policy: str, smoke: bool) -> dict[str, Any]:
    from tritonwright.candidate import Candidate, read_candidate
    from tritonwright.eval.precision import Policy, advice, detect_precision
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task
    from tritonwright.tune.harness import HarnessEvaluator

    case = CASES[name]
    overrides = case.smoke if smoke else case.overrides
    if smoke and case.smoke_skip:
        return {"case": name, "policy": policy, "task": case.task, "status": "skipped", "reason": case.smoke_skip}
    task = load_task(ROOT / case.task, overrides)
    cand = Candidate(source=case.source) if case.source else read_candidate(ROOT / case.candidate)
    detection = detect_precision(cand.source)
    if smoke:  # CPU: correctness only (the interpreter has no timing); one trial keeps a case to seconds
        cfg = EvalConfig(device="cpu", precision=policy, trials=1, timing=False, baselines=False)
    else:
        cfg = EvalConfig(device="cuda", precision=policy)
    t0 = time.monotonic()
    r = HarnessEvaluator(task, cfg).evaluate(cand, timed=not smoke, baselines=not smoke)
    outputs = [{"trial": o.trial, "index": o.index, "ok": o.ok, "fp64_err": o.fp64_err,
                "ref_fp64_err": o.ref_fp64_err, "fp64_rounded_err": o.fp64_rounded_err, "fp64_ratio": o.fp64_ratio,
                "ground_truth": o.ground_truth,
                "bound_use": _bound_use(o, policy)} for o in r.outputs[:OUTPUT_ROWS]]
    ratios = [o.fp64_ratio for o in r.outputs if o.fp64_ratio is not None]
    uses = [u for u in (_bound_use(o, policy) for o in r.outputs) if u is not None]
    return {
        "case": name, "policy": policy, "task": case.task, "candidate": case.candidate or f"inline ({name})",
        "overrides": overrides, "status": r.status.value, "verdict_policy": r.precision,
        "reason": _last_line(r.reason), "detected": detection.precision.value,
        "advice": advice(detection, Policy(policy)), "notes": [n[:300] for n in r.notes],
        "outputs": outputs, "max_fp64_ratio": _ratio(max(ratios, default=None)),
        "max_bound_use": _ratio(max(uses, default=None)),
        "ground_truth": _summary_gt([o.ground_truth for o in r.outputs]),
        "ms": _ms(r.timing), "eager_ms": _ms(r.eager), "compile_ms": _ms(r.compiled),
        "x_eager": _ratio(r.speedup_eager), "x_compile": _ratio(r.speedup_compiled),
        "baseline_cached": r.baseline_cached, "timing_note": r.timing_note, "seed": r.seed,
        "eval_wall_s": r.wall_s, "steps": r.step_seconds, "wall_s": round(time.monotonic() - t0, 2),
        "env": None if r.env is None else dataclasses.asdict(r.env),
    }


# ----------------------------------------------------------------------------------------------- the run


def _parent_environment(smoke: bool) -> dict[str, Any]:
    """The environment seen from this process: used only when no evaluation reported the children's."""
    import torch
    import triton

    from tritonwright.eval.worker import environment

    env = dataclasses.asdict(environment(torch.device("cpu" if smoke else "cuda")))
    return env | {"triton": triton.__version__, "python": platform.python_version()}


def _save(out: Path, results: dict[str, Any]) -> None:
    (out / "results.json").write_text(json.dumps(results, indent=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for results.json and results.md")
    ap.add_argument("--continue", dest="cont", help="keep the entries already measured in this folder")
    ap.add_argument("--only", help=f"comma-separated case names (default: all): {', '.join(CASES)}")
    ap.add_argument("--policies", help="comma-separated policies for every case (default: each case's own)")
    ap.add_argument("--redo", default="", help="comma-separated case@policy entries to measure again")
    ap.add_argument("--budget-s", type=float, default=BUDGET_S, help="start no new entry after this many seconds")
    ap.add_argument("--smoke", action="store_true", help="CPU, Triton interpreter, small sizes, no timing")
    args = ap.parse_args(argv)
    if args.smoke:  # before anything imports triton: its @jit helpers are built at import
        os.environ["TRITON_INTERPRET"] = "1"
    if str(ROOT / "src") not in sys.path:  # a plain checkout runs without PYTHONPATH=src
        sys.path.insert(0, str(ROOT / "src"))
    names = args.only.split(",") if args.only else list(CASES)
    policies = args.policies.split(",") if args.policies else None
    unknown = [n for n in names if n not in CASES] + [p for p in policies or () if p not in POLICIES]
    if unknown:
        print(f"unknown case(s) or policies: {', '.join(unknown)}; cases: {', '.join(CASES)}; "
              f"policies: {', '.join(POLICIES)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"smoke": args.smoke, "env": None, "entries": {}, "parts": []}
    if args.cont:
        results = json.loads((Path(args.cont) / "results.json").read_text())
        if results.get("smoke") != args.smoke:
            print("--continue: that folder was measured with(out) --smoke; not mixing them", file=sys.stderr)
            return 2
    for key in filter(None, args.redo.split(",")):
        results["entries"].pop(key, None)
    t0 = time.monotonic()
    done_now: list[str] = []
    left: list[str] = []
    todo = [(n, p) for n in names for p in (policies or CASES[n].policies)]
    for name, policy in todo:
        key = f"{name}@{policy}"
        if key in results["entries"]:
            continue
        if time.monotonic() - t0 > args.budget_s:
            left.append(key)
            continue
        print(f"[{time.monotonic() - t0:6.1f}s] {key}", flush=True)
        try:
            entry = run_entry(name, policy, args.smoke)
        except Exception as exc:  # one entry's failure is recorded; the run goes on
            entry = {"case": name, "policy": policy, "status": "error", "error": f"{type(exc).__name__}: {exc}"[:600]}
        env = entry.pop("env", None)
        if env and not results.get("env"):
            results["env"] = env
        results["entries"][key] = entry
        done_now.append(key)
        _save(out, results)
        print(f"   -> {entry['status']} ratio {entry.get('max_fp64_ratio')} ms {entry.get('ms')} "
              f"x eager {entry.get('x_eager')} x compile {entry.get('x_compile')} "
              f"{entry.get('error') or entry.get('reason', '')[:200]}", flush=True)
    if left:
        print(f"budget reached; left for --continue: {', '.join(left)}", flush=True)
    if not results.get("env"):
        results["env"] = _parent_environment(args.smoke)
    results["parts"].append({"entries": done_now, "left": left, "wall_s": round(time.monotonic() - t0, 1),
                             "argv": " ".join(sys.argv[1:] if argv is None else argv).replace(str(out), "$OUT")})
    _save(out, results)
    (out / "results.md").write_text(render(results))
    return 0


# ----------------------------------------------------------------------------------------------- rendering


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _k_table() -> list[str]:
    from tritonwright.eval.precision import Policy

    rows = ["| policy | K | floor | elementwise atol / rtol | baselines run as |", "|---|---|---|---|---|"]
    for p in Policy:
        s = p.spec
        rows.append(f"| {p.value} | {s.k:g} | {s.floor:.3g} | {s.tolerance.atol:g} / {s.tolerance.rtol:g} "
                    f"| {s.baseline} |")
    return rows


def render(results: dict[str, Any]) -> str:
    env = results.get("env") or {}
    smoke = results.get("smoke")
    lines = ["# Precision policies on the bench suite and LLM-style kernels", ""]
    if smoke:
        lines += ["**Smoke run** (CPU, Triton interpreter, small sizes, one trial, no timing): verdicts only.", ""]
    lines += [f"Device {env.get('gpu') or env.get('device')} (driver {env.get('driver')}, CUDA {env.get('cuda')}), "
              f"torch {env.get('torch')}, triton {env.get('triton')}, Python {env.get('python')}.", "",
              "How to read: each row is one evaluation of a candidate under a precision policy (`--precision`). "
              "`ratio` is the largest, over outputs and trials, of the candidate's relative RMS error against a "
              "float64 run of the reference divided by the reference's own error (fp32 for fp32 tasks). The "
              "policy allows K times the larger of that error and a floor (the table below), so `of bound` (the "
              "candidate's error over what is allowed) above 1 is a ground-truth `fail`; under reduced policies "
              "the floor, the format's roundoff, usually decides, and a ratio in the thousands can pass. Both are "
              "`-` when the elementwise check rejected the output first (the ground truth is then not measured). "
              "`detected` is the precision the kernel source shows (read from the source alone: a tl.dot on "
              "tiles loaded from fp16 tensors reads as its fp32 default, tf32). `ms`, `eager`, `compile` are median "
              "milliseconds of the candidate and of the reference in eager mode and under torch.compile, both "
              "run as the policy's baselines say (fp32 with TF32 off, TF32, or the Model cast to fp16/bf16), so "
              "`x eager` and `x compile` are speed-ups against the same precision. A speed-up is shown for "
              "accepted candidates only.", "", "K values in force (eval.precision):", "", *_k_table(), "",
              "| case | policy | detected | status | ratio | of bound | ground truth | ms | eager ms | compile ms "
              "| x eager | x compile |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["entries"].values():
        if "detected" not in r:  # an exception, or skipped in a smoke run
            lines.append(f"| {r['case']} | {r['policy']} | | {r['status']} | | | | | | | | |")
            continue
        lines.append(f"| {r['case']} | {r['policy']} | {r['detected']} | {r['status']} "
                     f"| {_f(r['max_fp64_ratio'], '.3g')} | {_f(r['max_bound_use'], '.2g')} | {r['ground_truth']} "
                     f"| {_f(r['ms'], '.4g')} "
                     f"| {_f(r['eager_ms'], '.4g')} | {_f(r['compile_ms'], '.4g')} | {_f(r['x_eager'], '.2f')} "
                     f"| {_f(r['x_compile'], '.2f')} |")
    why = [f"- {k}: {r.get('error') or r.get('reason')}" for k, r in results["entries"].items()
           if r.get("status") != "OK"]
    notes = [f"- {k}: {n}" for k, r in results["entries"].items() for n in r.get("notes", [])]
    if why:
        lines += ["", "## Why not OK", "", *why]
    if notes:
        lines += ["", "## Notes", "", *notes]
    lines += ["", "## Parts", ""] + [f"- `{p['argv']}`: {len(p['entries'])} entries in {p['wall_s']} s"
                                     + (f"; left: {', '.join(p['left'])}" if p.get("left") else "")
                                     for p in results.get("parts", [])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
