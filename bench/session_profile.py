"""Where a judge session's time goes, request by request: for deciding what to make faster.

    PYTHONPATH=src python3 bench/session_profile.py --out DIR [--example softmax] [--evals 3] [--abs 2] [--seeds]

Evaluates the example's candidate `--evals` times and runs `--abs` A/B comparisons of it against itself (and,
with --seeds, makes torch.compile's code twice: from the module the evaluations' compiled baseline captured, and
by compiling in the seed's own child), recording every request the parent sends a child (role, kind, seconds) and the seconds spent outside them (the
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


if __name__ == "__main__":
    sys.exit(main())
