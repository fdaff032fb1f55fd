"""Where one evaluation's time goes, per example, repeated: for before/after comparisons of the judge.

    PYTHONPATH=src python3 bench/eval_overhead.py --out DIR [--device cpu|cuda] [--repeats 5] [--size small|full]

Evaluates each example's candidate (examples/NAME/candidate.py) `--repeats` times in this process (the first
evaluation also starts the fork server; it is reported but left out of the medians) and writes DIR/results.json
and DIR/results.md: the median wall time and the median of every step the judge reports (load, correctness,
recheck, timing, baselines, ...). Point PYTHONPATH at another checkout's src to measure that code the same way:
the script uses only `evaluate`, `EvalConfig(device=...)`, `load_task` and `read_candidate`, which every
version has. On a CPU the sizes are the small ones the CPU tests use (the Triton interpreter), so the figures
show the judge's own overhead, not kernel speed.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL = {  # the CPU tests' sizes (tests/test_examples_cpu.py): seconds per evaluation in the interpreter
    "elu": {"batch_size": "8", "dim": "4000"},
    "softmax": {"batch_size": "5", "dim": "5000"},
    "layernorm": {"batch_size": "6", "hidden": "300"},
    "gemm_bias_relu": {"batch_size": "40", "in_features": "64", "out_features": "48"},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--repeats", type=int, default=5, help="evaluations per example after the first")
    ap.add_argument("--size", default="small", choices=["small", "full"], help="full: the tasks' own sizes (GPU)")
    ap.add_argument("--label", default="", help="what is measured (e.g. the commit), printed in the results")
    args = ap.parse_args(argv)

    import torch
    import triton

    from tritonwright.candidate import read_candidate
    from tritonwright.eval.runner import evaluate
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task

    rows = []
    for name, small in SMALL.items():
        task = load_task(ROOT / "examples" / name / "task.py", small if args.size == "small" else {})
        cand = read_candidate(ROOT / "examples" / name / "candidate.py")
        runs = []
        for _ in range(args.repeats + 1):
            t = time.perf_counter()
            r = evaluate(task, cand, EvalConfig(device=args.device))
            runs.append({"wall_s": time.perf_counter() - t, "status": r.status.value, "steps": dict(r.step_seconds)})
        kept = runs[1:]  # the first one also starts the fork server
        steps = sorted({k for run in kept for k in run["steps"]})
        rows.append({"example": name, "status": sorted({run["status"] for run in runs}),
                     "first_wall_s": round(runs[0]["wall_s"], 3),
                     "median_wall_s": round(statistics.median(run["wall_s"] for run in kept), 3),
                     "median_steps_s": {k: round(statistics.median(run["steps"].get(k, 0.0) for run in kept), 3)
                                        for k in steps}})
        print(f"{name}: {rows[-1]['median_wall_s']} s {rows[-1]['median_steps_s']}", flush=True)
    env = {"label": args.label, "device": args.device, "size": args.size, "repeats": args.repeats,
           "torch": torch.__version__, "triton": triton.__version__, "python": platform.python_version(),
           "machine": platform.processor() or platform.machine(),
           "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"env": env, "rows": rows}, indent=1))
    lines = [f"# Evaluation time by step ({args.label or 'this checkout'})", "",
             f"{env['device']} ({env['gpu'] or env['machine']}), torch {env['torch']}, triton {env['triton']}, "
             f"Python {env['python']}; {args.size} sizes; median of {args.repeats} evaluations after a first one.",
             "", "| example | status | median wall s | first wall s | median steps s |", "|---|---|---|---|---|"]
    for row in rows:
        steps = ", ".join(f"{k} {v}" for k, v in row["median_steps_s"].items())
        lines.append(f"| {row['example']} | {'/'.join(row['status'])} | {row['median_wall_s']} | "
                     f"{row['first_wall_s']} | {steps} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
