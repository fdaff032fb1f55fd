"""The launch tuner against the best config an exhaustive search finds, and against torch.compile.

    PYTHONPATH=src python3 bench/tune_bench.py --out DIR [--continue DIR] [--only a,b] [--budget-s 520]
                                               [--max-autotune] [--exhaustive-cap 160]

For each case (the six examples, and LLM-style kernels written in the idioms the tuner must read: launch
settings as expressions, **meta dicts, autotune lists built by code, grids per branch), on a GPU:
1. the original candidate, evaluated with both baselines (eager, torch.compile default);
2. `tune` at the "launch" stage (what a no-LLM optimize runs), with its wall time and where the time went;
3. the exhaustive search: every config of the same space (capped), screened, the fastest verified in full;
4. optionally torch.compile max-autotune (its compile takes minutes on some tasks).
Results go to DIR/results.json (one entry per case, written as each finishes) and DIR/results.md. With
--continue, cases already in that folder's results.json are kept, so a suite spans several 10-minute device
commands. Run from the repository root.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIX = "tests/fixtures/tune"
# name -> (task, candidate, overrides). Examples at KernelBench size; the LLM-style kernels on tasks of the
# same size (bench/tasks), so every case is a realistic memory- or compute-bound workload.
CASES: dict[str, tuple[str, str, dict[str, str]]] = {
    "elu": ("examples/elu/task.py", "examples/elu/candidate.py", {}),
    "softmax": ("examples/softmax/task.py", "examples/softmax/candidate.py", {}),
    "layernorm": ("examples/layernorm/task.py", "examples/layernorm/candidate.py", {}),
    "matmul_fp16": ("examples/matmul_fp16/task.py", "examples/matmul_fp16/candidate.py", {}),
    "gemm_bias_relu": ("examples/gemm_bias_relu/task.py", "examples/gemm_bias_relu/candidate.py", {}),
    "conv_mish_bn": ("examples/conv_mish_bn/task.py", "examples/conv_mish_bn/candidate.py", {}),
    "llm:softsign_warps_from_block": ("bench/tasks/softsign.py", f"{FIX}/softsign_warps_from_block.py", {}),
    "llm:softsign_branch_warps": ("bench/tasks/softsign.py", f"{FIX}/softsign_branch_warps.py", {}),
    "llm:swish_min_max_expr": ("bench/tasks/swish.py", f"{FIX}/swish_min_max_expr.py", {}),
    "llm:swish_autotune_loop": ("bench/tasks/swish.py", f"{FIX}/swish_autotune_loop.py", {}),
    "llm:relu_tuple_unpack": ("bench/tasks/relu.py", f"{FIX}/relu_tuple_unpack.py", {}),
    "llm:relu_meta_dict": ("bench/tasks/relu.py", f"{FIX}/relu_meta_dict.py", {}),
    "llm:elu_autotune_comprehension": ("examples/elu/task.py", f"{FIX}/elu_autotune_comprehension.py", {}),
    "llm:softmax_rows": ("examples/softmax/task.py", f"{FIX}/softmax_rows.py", {}),
    "llm:mish_size_branch": ("examples/conv_mish_bn/task.py", f"{FIX}/mish_size_branch.py", {}),
    # tenth session: idioms the tuner refused or searched only in part before (bench/tuner_coverage.py)
    "llm:relu_grid_def": ("bench/tasks/relu.py", f"{FIX}/relu_grid_def.py", {}),  # def grid(meta)
    "llm:relu_autotune_warps_only": ("bench/tasks/relu.py", f"{FIX}/relu_autotune_warps_only.py", {}),
    "llm:matmul_autotune_warps_only": ("examples/matmul_fp16/task.py", f"{FIX}/matmul_autotune_warps_only.py", {}),
    # atomics: written at its winner. 2**22 values, as tests/test_tune_gpu.py: at 2**26 the 262144 atomic fp32
    # adds of partial sums of signed values were 65x the reference's float64 error, and the judge refused it
    "llm:scale_then_sum_atomic": (f"{FIX}/tasks/scale_sum.py", f"{FIX}/scale_then_sum_atomic.py",
                                  {"N": str(1 << 22)}),
    # torch.compile's own code (the race's contender), made at run time: INDUCTOR as the candidate
    "inductor:softmax": ("examples/softmax/task.py", "INDUCTOR", {}),
    "inductor:conv_mish_bn": ("examples/conv_mish_bn/task.py", "INDUCTOR", {}),
}
INDUCTOR = "INDUCTOR"  # a case's candidate made by the Inductor seed (tritonwright.inductor_seed.make_seed)
EXHAUSTIVE_CAP = 96  # configs per kernel in the exhaustive search; larger spaces are thinned evenly (said so)
CHUNK = 40  # configs per screening session: a crash costs at most one session's worth


def _t(t: Any) -> float | None:
    return None if t is None else round(t.median_ms, 5)


def _exhaustive(task: Any, cand: Any, ev: Any, cap: int) -> dict[str, Any]:
    """Every config of the launch space (each kernel on its own, the others as written), screened; the
    fastest three verified in full. The figure the tuner is graded against."""
    from tritonwright.candidate import Candidate
    from tritonwright.tune import rewrite
    from tritonwright.tune.analysis import analyse
    from tritonwright.tune.search import VERIFY_SEED_OFFSET, TuneSettings, _usable_plans, plans_for
    from tritonwright.tune.space import build_space, kernel_kind

    analysis = analyse(cand.source)
    plan = plans_for(analysis, "launch")
    limits = TuneSettings().limits
    out: dict[str, Any] = {"kernels": {}}
    # The tuner's own rule for what it may change (a tile size the grid ignores stays as written), so the
    # exhaustive space is the one the tuner searches, not a superset it could never rewrite.
    for p in _usable_plans(analysis, list(plan.kernels), TuneSettings(stage="launch"), []):
        space = build_space(p, kernel_kind(analysis.kernels[p.kernel].node, p.uses_dot), "launch", limits)
        base = p.centres[0]
        configs = []
        for values in itertools.product(*(a.values for a in space.axes)):
            c = base
            for a, v in zip(space.axes, values, strict=True):
                c = (c.replace(num_warps=v) if a.name == "num_warps" else c.replace(num_stages=v)
                     if a.name == "num_stages" else c.replace(meta={a.name: v}))
            if not space.why_invalid(c):
                configs.append(c)
        total = len(configs)
        if total > cap:
            step = total / cap
            configs = [configs[int(i * step)] for i in range(cap)]
        t0 = time.monotonic()
        screened = []
        for i in range(0, len(configs), CHUNK):
            chunk = configs[i:i + CHUNK]
            variants = [Candidate(source=rewrite.freeze(analysis, [p], {p.kernel: c})) for c in chunk]
            screened += list(zip(chunk, ev.screen_many(variants), strict=True))
        ranked = sorted(((c, r) for c, r in screened if r.ok and r.timing), key=lambda x: x[1].timing.median_ms)
        best = None
        for k in range(0, min(len(ranked), 9), 3):  # verify the fastest three; the next three if all fail
            top = ranked[k:k + 3]
            variants = [Candidate(source=rewrite.freeze(analysis, [p], {p.kernel: c})) for c, _ in top]
            full = ev.evaluate_many(variants, timed=True, seed=ev.config.seed + VERIFY_SEED_OFFSET)
            ok = [(c, r) for (c, _), r in zip(top, full, strict=True) if r.ok and r.timing]
            if ok:
                c, r = min(ok, key=lambda x: x[1].timing.median_ms)
                best = {"config": c.label, "ms": _t(r.timing)}
                break
        out["kernels"][p.kernel] = {"space": total, "screened": len(screened), "thinned": total > cap,
                                    "failed": sum(1 for _, r in screened if not r.ok), "best": best,
                                    "wall_s": round(time.monotonic() - t0, 1)}
    return out


def run_case(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from tritonwright.candidate import read_candidate
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task
    from tritonwright.tune.harness import HarnessComparer, HarnessEvaluator
    from tritonwright.tune.search import TuneSettings, tune

    task_path, cand_path, overrides = CASES[name]
    task = load_task(ROOT / task_path, overrides)
    out: dict[str, Any] = {"case": name, "task": task_path, "candidate": cand_path}
    if cand_path == INDUCTOR:
        from tritonwright.inductor_seed import make_seed

        t_seed = time.monotonic()
        cand = make_seed(task, "cuda").candidate
        out["seed_wall_s"] = round(time.monotonic() - t_seed, 1)
    else:
        cand = read_candidate(ROOT / cand_path)
    base = EvalConfig(device="cuda")
    t0 = time.monotonic()
    first = HarnessEvaluator(task, base).evaluate(cand, timed=True, baselines=True)
    out["original"] = {"status": first.status.value, "reason": first.reason[-400:], "ms": _t(first.timing),
                       "eager_ms": _t(first.eager), "compile_ms": _t(first.compiled),
                       "wall_s": first.wall_s, "steps": first.step_seconds}
    if not first.ok:
        return out
    repeats = [HarnessEvaluator(task, base).evaluate(cand, timed=True, baselines=True)
               for _ in range(args.repeats)]
    repeat = sorted(repeats, key=lambda r: r.wall_s)[len(repeats) // 2]  # the median one (odd counts)
    out["repeat_eval"] = {"wall_s": repeat.wall_s, "steps": repeat.step_seconds, "ms": _t(repeat.timing),
                          "all_wall_s": [r.wall_s for r in repeats]}
    if args.eval_only:
        out["wall_s"] = round(time.monotonic() - t0, 1)
        return out
    cfg = EvalConfig(device="cuda", baselines=False, compile_threads=args.compile_threads,
                     compile_processes=args.compile_processes)
    ev, cmp = HarnessEvaluator(task, cfg), HarnessComparer(task, cfg)
    report = tune(cand, ev, cmp, TuneSettings(stage="launch"))
    c = report.comparison
    out["tune"] = {"decision": report.decision.value, "reason": report.reason, "original_ms": report.original_ms,
                   "tuned_ms": report.tuned_ms, "wall_s": report.wall_s, "seconds": report.seconds,
                   "winners": {k: v.label for k, v in report.winners.items()}, "notes": report.notes,
                   "skipped": report.skipped, "screened": sum(1 for r in report.results if r.screen_ms is not None),
                   "verified": sum(1 for r in report.results if r.verified),
                   "ab": None if c is None else {"speedup": round(c.speedup, 4), "noise": round(c.noise, 4),
                                                 "significant": c.significant}}
    if report.winners and not args.no_exhaustive:
        out["exhaustive"] = _exhaustive(task, cand, ev, args.exhaustive_cap)
    if args.max_autotune and (args.max_autotune == "all" or name in args.max_autotune.split(",")):
        r = HarnessEvaluator(task, EvalConfig(device="cuda", compile_mode="max-autotune", trials=1, timing=False)
                             ).evaluate(cand, timed=False, baselines=True)
        out["max_autotune_ms"] = _t(r.compiled)
        out["max_autotune_note"] = "; ".join(r.notes)[-300:]
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def _environment() -> dict[str, Any]:
    import torch
    import triton

    from tritonwright.eval.worker import environment

    env = environment(torch.device("cuda")).__dict__
    return env | {"triton": triton.__version__, "python": platform.python_version()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for results.json and results.md")
    ap.add_argument("--continue", dest="cont", help="keep the cases already measured in this folder")
    ap.add_argument("--only", help="comma-separated case names (default: all)")
    ap.add_argument("--redo", default="", help="comma-separated cases to measure again even if kept")
    ap.add_argument("--budget-s", type=float, default=520.0, help="start no new case after this many seconds")
    ap.add_argument("--max-autotune", help="comma-separated cases to also time with torch.compile max-autotune, or all")
    ap.add_argument("--repeats", type=int, default=1,  # one, as the figures before 2026-12-05 were taken
                    help="repeat evaluations to time (the median one is reported)")
    ap.add_argument("--eval-only", action="store_true", help="time the evaluations only: no tune, no exhaustive")
    ap.add_argument("--no-exhaustive", action="store_true", help="skip the exhaustive search")
    ap.add_argument("--exhaustive-cap", type=int, default=EXHAUSTIVE_CAP)
    ap.add_argument("--compile-threads", type=int, default=0,
                    help="threads compiling screened configs ahead of their timing (0: the default; 1: none)")
    ap.add_argument("--compile-processes", type=int, default=0,
                    help="compiler processes for screened configs, before the threads (0: the default; 1: none)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"cases": {}, "parts": []}
    if args.cont:
        results = json.loads((Path(args.cont) / "results.json").read_text())
    results.setdefault("env", _environment())
    for name in filter(None, args.redo.split(",")):
        results["cases"].pop(name, None)
    names = args.only.split(",") if args.only else list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    done_now = []
    for name in names:
        if name in results["cases"]:
            continue
        if time.monotonic() - t0 > args.budget_s:
            print(f"budget reached; left for --continue: {name} ...", flush=True)
            break
        print(f"[{time.monotonic() - t0:6.1f}s] {name}", flush=True)
        try:
            results["cases"][name] = run_case(name, args)
        except Exception as exc:  # one case's failure is recorded; the suite goes on
            results["cases"][name] = {"case": name, "error": f"{type(exc).__name__}: {exc}"[:600]}
        done_now.append(name)
        (out / "results.json").write_text(json.dumps(results, indent=1))
        r = results["cases"][name]
        print(f"   -> {json.dumps({k: r.get(k) for k in ('original', 'tune', 'error')})[:600]}", flush=True)
    results["parts"].append({"cases": done_now, "wall_s": round(time.monotonic() - t0, 1),
                             "argv": " ".join(sys.argv[1:]).replace(str(out), "$OUT")})
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(render(results))
    return 0


def render(results: dict[str, Any]) -> str:
    env = results.get("env", {})
    lines = ["# Launch tuner benchmark", "",
             f"GPU {env.get('gpu')} (driver {env.get('driver')}, CUDA {env.get('cuda')}), torch {env.get('torch')}, "
             f"triton {env.get('triton')}, Python {env.get('python')}.", "",
             "Median ms. `tuned` is the tuner's output (`launch` stage, what a no-LLM optimize runs); "
             "`exhaustive` is the best verified config of the whole space; `vs exh.` = tuned / exhaustive.", "",
             "| case | original | tuned | decision | exhaustive | vs exh. | compile | max-autotune | tuned vs compile "
             "| tune s | screened | repeat eval s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results["cases"].items():
        if "error" in r or "tune" not in r:
            rep = r.get("repeat_eval")
            if rep and "error" not in r and r.get("original", {}).get("status") == "OK":  # --eval-only
                lines.append(f"| {name} | {r['original']['ms']} | (evaluation timed only) |||||||||"
                             f"{rep['wall_s']} (all: {rep.get('all_wall_s', [rep['wall_s']])}) |")
                continue
            why = r.get("error") or r.get("original", {}).get("reason", "")
            lines.append(f"| {name} | {r.get('original', {}).get('status', 'error')}: {why[:80]} |||||||||||")
            continue
        t, o = r["tune"], r["original"]
        tuned = t["tuned_ms"] if t["decision"] == "KEEP" else o["ms"]
        ex = [k["best"]["ms"] for k in r.get("exhaustive", {}).get("kernels", {}).values() if k.get("best")]
        exh = min(ex) if ex and len(ex) == 1 else None
        vs = f"{tuned / exh:.3f}" if exh and tuned else "-"
        comp = o.get("compile_ms")
        lines.append(f"| {name} | {o['ms']} | {tuned} | {t['decision']} | {exh or '-'} | {vs} | {comp} | "
                     f"{r.get('max_autotune_ms', '-')} | {f'{comp / tuned:.2f}x' if comp and tuned else '-'} | "
                     f"{t['wall_s']:.0f} | {t['screened']} | {r.get('repeat_eval', {}).get('wall_s', '-')} |")
    lines += ["", "## Parts", ""] + [f"- {p['argv']}: {', '.join(p['cases'])} ({p['wall_s']} s)"
                                     for p in results.get("parts", [])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
