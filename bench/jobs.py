"""Job bodies: each runs in its own process, started by the orchestrator (bench/cli.py) with a timeout, so
its wall time, peak host memory and GPU memory are its own and a crash stays inside it.

Usage: python -m bench.jobs KIND SPEC.json OUT.json   (KIND: ceilings | quality_eval | quality_tune | trust
| profile). Only plain data crosses: the spec and the result are JSON files.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any


def _task_and_candidate(spec: dict[str, Any]) -> tuple[Any, Any]:
    from tritonwright.candidate import read_candidate
    from tritonwright.task import load_task

    return load_task(spec["task"], spec.get("overrides", {})), read_candidate(spec["candidate"])


def _timing(t: Any) -> dict[str, Any] | None:
    return None if t is None else {"median_ms": t.median_ms, "q1_ms": t.q1_ms, "q3_ms": t.q3_ms, "n": t.n,
                                   "method": t.method}


def _eval_data(r: Any) -> dict[str, Any]:
    return {"status": r.status.value, "reason": r.reason, "timing": _timing(r.timing), "eager": _timing(r.eager),
            "compiled": _timing(r.compiled), "baseline_cached": r.baseline_cached, "notes": list(r.notes),
            "env": None if r.env is None else r.env.__dict__, "step_seconds": dict(r.step_seconds),
            "wall_s": r.wall_s}


def ceilings(spec: dict[str, Any]) -> dict[str, Any]:
    """Environment fingerprint, copy bandwidth and matrix rates of this GPU, now."""
    import torch

    from tritonwright import ceilings as c
    from tritonwright.eval.worker import environment

    env = environment(torch.device("cuda")).__dict__
    # Measured afresh (not the optimizer's per-GPU cache): a suite's floors use its own run's ceilings.
    measured = c.measure(tuple(spec.get("matmul_dtypes", ["float16", "float32"])))
    return {"status": "ok", "env": env, "copy": measured["copy"], "matmul": measured["matmul"],
            "total_memory_mib": torch.cuda.get_device_properties(0).total_memory // 2**20}


def quality_eval(spec: dict[str, Any]) -> dict[str, Any]:
    """The task's traffic (meta device), then the candidate against eager and torch.compile references."""
    from tritonwright.eval.runner import evaluate
    from tritonwright.eval.types import EvalConfig
    from tritonwright.floor import task_traffic

    task, cand = _task_and_candidate(spec)
    traffic = task_traffic(task)
    result = evaluate(task, cand, EvalConfig(device="cuda"))
    out = {"status": "ok" if result.ok else "failed", "reason": result.reason, "traffic": traffic.to_dict(),
           "eval": _eval_data(result), "max_autotune": None}
    if spec.get("max_autotune") and result.ok:
        # Only the baselines are new here: one correctness trial, no candidate timing.
        r = evaluate(task, cand, EvalConfig(device="cuda", compile_mode="max-autotune", trials=1, timing=False))
        out["max_autotune"] = {"status": r.status.value, "reason": r.reason, "compiled": _timing(r.compiled),
                               "notes": list(r.notes), "wall_s": r.wall_s}
    return out


def quality_tune(spec: dict[str, Any]) -> dict[str, Any]:
    """The launch tuner at the advanced_memory stage, with the harness's defaults (as `tritonwright tune`)."""
    from tritonwright.eval.types import EvalConfig
    from tritonwright.tune.harness import HarnessComparer, HarnessEvaluator
    from tritonwright.tune.search import Decision, TuneSettings, tune

    task, cand = _task_and_candidate(spec)
    config = EvalConfig(device="cuda", baselines=False)
    report = tune(cand, HarnessEvaluator(task, config), HarnessComparer(task, config),
                  TuneSettings(stage=spec.get("stage", "advanced_memory")))
    winners = {k: c.label for k, c in report.winners.items()}
    if spec.get("winners_json"):  # the format tests/fixtures/tune/gpu_sweep.py reads
        Path(spec["winners_json"]).write_text(json.dumps({"winners": winners}), encoding="utf-8")
    if spec.get("tuned_path") and report.decision is Decision.KEEP:
        Path(spec["tuned_path"]).write_text(report.candidate.source, encoding="utf-8")
    cmp = report.comparison
    # Every decision is an outcome: REVERT and REFUSED return the original code unchanged, with the reason.
    return {"status": "ok", "reason": report.reason,
            "decision": report.decision.value, "original_ms": report.original_ms, "tuned_ms": report.tuned_ms,
            "wall_s": report.wall_s, "winners": winners,
            "comparison": None if cmp is None else {"speedup": cmp.speedup, "noise": cmp.noise,
                                                    "significant": cmp.significant, "reason": cmp.reason},
            "configs": [{"kernel": r.kernel, "config": r.config.label, "original": r.original, "status": r.status,
                         "median_ms": r.median_ms, "round": r.round} for r in report.results]}


def trust(spec: dict[str, Any]) -> dict[str, Any]:
    from bench import trust as t

    return t.run(t.TrustSpec.from_dict(spec))


def profile(spec: dict[str, Any]) -> dict[str, Any]:
    """One ncu profile of the candidate's kernels (clocks left alone: --clock-control none)."""
    from tritonwright.profile.collect import ProfileSettings, profile_candidate
    from tritonwright.task import load_task

    task = load_task(spec["task"], spec.get("overrides", {}))
    outcome = profile_candidate(task, spec["candidate"], ProfileSettings(clock_control="none"))
    return {"status": "ok" if outcome.ok else "failed", "reason": outcome.reason,
            "profile_status": outcome.status.value, "wall_s": outcome.wall_s, "kernels": list(outcome.kernels),
            "unsupported": list(outcome.unsupported), "notes": list(outcome.notes)}


def finite(value: Any) -> Any:
    """JSON has no NaN or inf: a non-finite number becomes None (its reason is beside it in the result)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


JOBS = {"ceilings": ceilings, "quality_eval": quality_eval, "quality_tune": quality_tune, "trust": trust,
        "profile": profile}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in JOBS:
        print(f"usage: python -m bench.jobs {{{'|'.join(JOBS)}}} SPEC.json OUT.json", file=sys.stderr)
        return 2
    kind, spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    t0 = time.monotonic()
    result = JOBS[kind](spec)
    result["job_s"] = round(time.monotonic() - t0, 3)
    Path(out_path).write_text(json.dumps(finite(result), indent=1, allow_nan=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
