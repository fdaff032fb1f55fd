"""A/A check of the harness's keep/revert decision: one candidate against itself, N decisions at 2%.

Usage: python bench/harness_aa.py TASK.py CANDIDATE.py [--set NAME=VALUE ...] [--repeats 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

from tritonwright.candidate import read_candidate
from tritonwright.eval.runner import compare_repeated
from tritonwright.eval.types import EvalConfig
from tritonwright.task import load_task, parse_overrides


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("task")
    ap.add_argument("candidate")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--threshold", type=float, default=0.02)
    ap.add_argument("--json")
    a = ap.parse_args()
    task = load_task(a.task, parse_overrides(a.set))
    cand = read_candidate(a.candidate)
    t0 = time.monotonic()
    out = compare_repeated(task, cand, cand, EvalConfig(device="cuda"), a.threshold, a.rounds, a.repeats)
    wall = time.monotonic() - t0
    false_faster = sum(c.significant for c in out)
    print(f"A/A over {len(out)} decisions at {a.threshold:.0%}: {false_faster} said 'faster'; "
          f"speedups {min(c.speedup for c in out):.4f}..{max(c.speedup for c in out):.4f}; "
          f"noise {min(c.noise for c in out):.2%}..{max(c.noise for c in out):.2%}; wall {wall:.1f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump([{"speedup": c.speedup, "noise": c.noise, "significant": c.significant, "reason": c.reason}
                       for c in out], f, indent=1)


if __name__ == "__main__":
    main()
