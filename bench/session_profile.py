"""Where a judge session's time goes, request by request: for deciding what to make faster.

    PYTHONPATH=src python3 bench/session_profile.py --out DIR [--example softmax] [--evals 3] [--abs 2] [--seeds]
        [--tuned 4] [--verify]

Evaluates the example's candidate `--evals` times and runs `--abs` A/B comparisons of it against itself (and,
with --seeds, makes torch.compile's code twice: from the module the evaluations' compiled baseline captured, and
by compiling in the seed's own child; with --tuned N, evaluates the candidate rewritten to an autotune list of N
warp counts in three sessions: without Triton's autotune cache, then twice with it; with --verify, evaluates
three warp variants in one session on the tuner's verification budget and on the full one), recording every request the parent sends a child (role, kind, seconds) and the seconds spent outside them (the
children's start, the shutdown) through a wrapper around eval.runner's _Child.call and _session. Writes
DIR/session_profile.json (each session's calls) and prints one summary line per session. Uses private names of
eval.runner on purpose: it is a measuring tool of this tree, not an API.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--example", default="softmax")
    ap.add_argument("--evals", type=int, default=3)
    ap.add_argument("--abs", type=int, default=2, help="A/B comparisons (GPU only)")
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--seeds", action="store_true", help="time the Inductor seed with and without the capture")
    ap.add_argument("--tuned", type=int, default=0, metavar="N", choices=range(0, 7),
                    help="evaluate an autotune list of N configs, with and without the autotune cache (GPU)")
    ap.add_argument("--verify", action="store_true", help="time the tuner's short verification against a full one")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="task size overrides")
    args = ap.parse_args(argv)

    import torch
    import triton

    from tritonwright.candidate import read_candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task

    sessions: list[dict[str, Any]] = []
    original_call = runner._Child.call
    original_session = runner._session

    def call(self: Any, step: str, timeout_s: float, request: Any) -> Any:
        t = time.perf_counter()
        try:
            return original_call(self, step, timeout_s, request)
        finally:
            if sessions:
                sessions[-1]["calls"].append({"role": self.name, "kind": type(request).__name__,
                                              "at_s": round(t - sessions[-1]["t0"], 4),
                                              "s": round(time.perf_counter() - t, 4)})

    @contextlib.contextmanager
    def session(*a: Any, **k: Any) -> Iterator[Any]:
        record: dict[str, Any] = {"label": current[0], "t0": time.perf_counter(), "calls": []}
        sessions.append(record)
        with original_session(*a, **k) as pair:
            record["started_s"] = round(time.perf_counter() - record["t0"], 4)
            yield pair
            record["last_reply_s"] = round(time.perf_counter() - record["t0"], 4)
        record["closed_s"] = round(time.perf_counter() - record["t0"], 4)

    runner._Child.call = call  # type: ignore[method-assign]
    runner._session = session  # type: ignore[assignment]
    current = [""]
    from tritonwright.task import parse_overrides

    task = load_task(ROOT / "examples" / args.example / "task.py", parse_overrides(args.set))
    cand = read_candidate(ROOT / "examples" / args.example / "candidate.py")
    walls = []
    for i in range(args.evals):
        current[0] = f"evaluate {i + 1}"
        t = time.perf_counter()
        r = runner.evaluate(task, cand, EvalConfig(device=args.device))
        walls.append({"label": current[0], "wall_s": round(time.perf_counter() - t, 3), "status": r.status.value,
                      "steps": r.step_seconds})
    for i in range(args.abs if args.device == "cuda" else 0):
        current[0] = f"A/B {i + 1}"
        t = time.perf_counter()
        c = runner.compare(task, cand, cand, EvalConfig(device=args.device))
        walls.append({"label": current[0], "wall_s": round(time.perf_counter() - t, 3), "rounds": c.rounds})
    if args.seeds:
        import tempfile

        from tritonwright.eval import baseline_cache
        from tritonwright.inductor_seed import make_seed

        captured = baseline_cache.capture_for(task.hash)
        for label, capture in (("seed from the capture", captured), ("seed compiled in its child", None)):
            if label.endswith("capture") and capture is None:
                walls.append({"label": label, "error": "no capture was remembered (baselines from the cache?)"})
                continue
            baseline_cache._CAPTURES.pop(task.hash, None)
            if capture is not None:
                baseline_cache.remember_capture(task.hash, capture)
            t = time.perf_counter()
            seed = make_seed(task, args.device, workdir=tempfile.mkdtemp(prefix="tritonwright-profile-seed-"))
            walls.append({"label": label, "wall_s": round(time.perf_counter() - t, 3), "notes": seed.notes})
    if args.tuned:
        walls += _tuned(task, cand, args.tuned, args.device, current)
    if args.verify:
        walls += _verify(task, cand, args.device, current)
    for s in sessions:
        s.pop("t0")
        inside = sum(c["s"] for c in s["calls"])
        by_kind: dict[str, float] = {}
        for c in s["calls"]:
            key = f"{c['role']}.{c['kind']}"
            by_kind[key] = round(by_kind.get(key, 0.0) + c["s"], 3)
        s["summary"] = {"in_calls_s": round(inside, 3), "by_kind": by_kind}
        print(f"{s['label']}: closed at {s.get('closed_s')} s, started {s.get('started_s')} s, in calls "
              f"{inside:.3f} s: {by_kind}")
    for w in walls:
        print(w)
    args.out.mkdir(parents=True, exist_ok=True)
    env = {"python": sys.version.split()[0], "torch": torch.__version__, "triton": triton.__version__,
           "platform": platform.platform(),
           "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None}
    (args.out / "session_profile.json").write_text(json.dumps({"env": env, "example": args.example,
                                                               "walls": walls, "sessions": sessions}, indent=1))
    return 0


def _warp_variants(cand: Any, n: int) -> tuple[Any, Any, list[Any]]:
    """The analysis of `cand`, its first tunable kernel's plan, and `n` configs that differ from its own in
    num_warps only (1, 2, 4, ... skipping the original's)."""
    from tritonwright.tune.analysis import analyse
    from tritonwright.tune.configs import LaunchConfig
    from tritonwright.tune.search import plans_for

    analysis = analyse(cand.source)
    plans = plans_for(analysis, "launch")  # as the tuner plans it (softmax: warps and stages only)
    if not plans.kernels:
        raise SystemExit("error: --tuned/--verify need a kernel the tuner can rewrite; this candidate has none: "
                         + "; ".join(f"{k}: {why}" for k, why in plans.skipped))
    plan = plans.kernels[0]
    centre = plan.centres[0]
    warps = [w for w in (1, 2, 4, 8, 16, 32) if w != centre.num_warps]
    configs = [centre] + [LaunchConfig.make(w, centre.num_stages, centre.meta_dict) for w in warps][:max(0, n - 1)]
    return analysis, plan, configs


def _tuned(task: Any, cand: Any, n: int, device: str, current: list[str]) -> list[dict[str, Any]]:
    """The candidate as an autotune list of `n` configs (as the tuner writes it), evaluated without Triton's
    autotune cache (every config benchmarked at the first call) and then twice with it (the first fills it)."""
    from tritonwright.candidate import Candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.tune import rewrite

    analysis, plan, configs = _warp_variants(cand, n)
    tuned = Candidate(rewrite.autotune(analysis, [plan], {plan.kernel: configs}), origin="profile:tuned")
    out = []
    saved = dict(runner.CANDIDATE_ENV)
    for label, env in (("tuned, no autotune cache", {}), ("tuned, cache filled", saved), ("tuned, cache read", saved)):
        runner.CANDIDATE_ENV.clear()
        runner.CANDIDATE_ENV.update(env)
        current[0] = label
        t = time.perf_counter()
        try:
            r = runner.evaluate(task, tuned, EvalConfig(device=device, baselines=False))
        finally:
            runner.CANDIDATE_ENV.clear()
            runner.CANDIDATE_ENV.update(saved)
        out.append({"label": label, "configs": len(configs), "wall_s": round(time.perf_counter() - t, 3),
                    "status": r.status.value, "steps": r.step_seconds})
    return out


def _verify(task: Any, cand: Any, device: str, current: list[str]) -> list[dict[str, Any]]:
    """Three warp variants of the candidate evaluated in one session on the tuner's verification budget, then
    on the full one: the seconds and the medians of each."""
    import dataclasses

    from tritonwright.candidate import Candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.tune import rewrite
    from tritonwright.tune.search import VERIFY_BUDGET_MS

    analysis, plan, configs = _warp_variants(cand, 3)
    variants = [Candidate(rewrite.freeze(analysis, [plan], {plan.kernel: c}), origin="profile:verify")
                for c in configs]
    full = EvalConfig(device=device, baselines=False)
    out = []
    for label, cfg in ((f"verify, {VERIFY_BUDGET_MS:g} ms budget", dataclasses.replace(full, budget_ms=VERIFY_BUDGET_MS)),
                       (f"verify, full {full.budget_ms:g} ms budget", full)):
        current[0] = label
        t = time.perf_counter()
        rs = runner.evaluate_many(task, variants, cfg)
        out.append({"label": label, "wall_s": round(time.perf_counter() - t, 3), "configs": [c.label for c in configs],
                    "medians_ms": [r.timing.median_ms if r.timing else None for r in rs],
                    "runs": [r.timing.n if r.timing else None for r in rs], "steps": rs[0].step_seconds})
    return out


if __name__ == "__main__":
    sys.exit(main())
