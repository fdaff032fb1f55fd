"""Bundles as `tritonwright export RUN` writes them, built here for the report tests (no store, no GPU).

Times are chosen so every speedup and gain the tests check can be worked out by hand.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

ENV = {"gpu": "NVIDIA H100 80GB HBM3", "driver": "550.54.15", "cuda": "12.4", "torch": "2.5.1",
       "triton": "3.1.0", "python": "3.11.9", "device": "cuda"}

SOFTMAX_SEED = '''import torch
import triton
import triton.language as tl


@triton.jit
def softmax_kernel(x_ptr, y_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    tl.store(y_ptr + row * n_cols + cols, num / tl.sum(num, axis=0), mask=mask)
'''

# The final code carries markup and a Markdown fence inside a docstring: the report must show it verbatim.
FINAL_SOURCE = SOFTMAX_SEED.replace(
    "@triton.jit",
    '@triton.jit  # num_warps=8 & BLOCK<=4096\n'
    'def _doc():\n    """Example:\n    ```python\n    y = ModelNew()(x)  # <b>not bold</b>\n    ```\n    """\n\n\n'
    "@triton.jit",
)

GRID_DIFF = """--- a/cand-0002.py
+++ b/cand-0003.py
@@ -8,3 +8,4 @@
 def softmax_kernel(x_ptr, y_ptr, n_cols, BLOCK: tl.constexpr):
-    row = tl.program_id(0)
+    row = tl.program_id(0)  # one program per row, 8 warps
+    # grid = (n_rows,) & BLOCK >= n_cols
     cols = tl.arange(0, BLOCK)
"""

REVERTED_DIFF = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-REVERTED_MARKER_OLD\n+REVERTED_MARKER_NEW\n"
TUNE_DIFF = "--- a/cand-0003.py\n+++ b/cand-0006.py\n@@ -1,2 +1,2 @@\n-num_warps = 4\n+num_warps = 8\n"

EAGER_MS = 0.060
COMPILED_MS = 0.040


def attempt(seq: int, stage: str, decision: str, *, status: str | None = "OK", median_ms: float | None = None,
            origin: str = "llm", reason: str = "", decision_reason: str = "", diff: str | None = None,
            metrics_before: dict[str, Any] | None = None, metrics_after: dict[str, Any] | None = None,
            parent: str | None = None, llm: dict[str, Any] | None = None,
            eager_ms: float | None = EAGER_MS, compiled_ms: float | None = COMPILED_MS,
            configs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """One attempt row; the speedups follow from the median and the baselines, as the pipeline computes them."""
    def ratio(base: float | None) -> float | None:
        return None if base is None or median_ms is None else base / median_ms

    return {
        "seq": seq, "stage": stage, "origin": origin, "candidate_id": f"cand-{seq:04d}", "parent_id": parent,
        "status": status, "reason": reason, "median_ms": median_ms,
        "speedup_eager": ratio(eager_ms), "speedup_compiled": ratio(compiled_ms),
        "decision": decision, "decision_reason": decision_reason,
        "metrics_before": metrics_before, "metrics_after": metrics_after, "diff": diff,
        "wall_s": 4.0 + seq, "llm": llm, "configs": configs or [],
    }


def _llm(inp: int, out: int, cost: float | None) -> dict[str, Any]:
    return {"input_tokens": inp, "output_tokens": out, "cost_usd": cost, "calls": 1}


SEED_TRACEBACK = (
    "Traceback (most recent call last):\n  File \"<candidate>\", line 12, in <module>\n"
    "triton.compiler.errors.CompilationError: at 12:8: <script>alert('x')</script> & more"
)
KERNEL = "softmax_kernel"


def config(i: int, block: int, warps: int, stages: int, phase: str, screen_ms: float | None, *,
           status: str = "OK", verified_ms: float | None = None, verified: bool = False, error: str | None = None,
           original: bool = False, chosen: bool = False) -> dict[str, Any]:
    """One launch config a tuner step tried, as the run store's tuner_configs row (tune.search ConfigResult.row)."""
    return {"kernel": KERNEL, "label": f"BLOCK={block} warps={warps} stages={stages}",
            "config": {"BLOCK": block, "num_warps": warps, "num_stages": stages}, "phase": phase, "round": i,
            "original": original, "screen_ms": screen_ms, "verified": verified, "verified_ms": verified_ms,
            "status": status, "error": error, "chosen": chosen}


COMPILE_ERROR_LINE = "CompilationError: out of resource: shared memory, Required: 262144 <b>limit</b> 232448"
MISMATCH_LINE = "output 0: 12 elements out of tolerance"
# The advanced_memory tuner step (attempt 7), in the order tried: the fastest screened config computes the wrong
# thing and one does not compile. Read in screening order, passing first: 2048/8/3 (chosen), 2048/8/4,
# 2048/4/3, the original, then the failures in the order tried: 4096/16/3, 8192/32/3.
TUNE_CONFIGS = [
    config(1, 1024, 4, 3, "coarse", 0.040, verified=True, verified_ms=0.0401, original=True),
    config(1, 2048, 8, 3, "coarse", 0.035, verified=True, verified_ms=0.036, chosen=True),
    config(1, 4096, 16, 3, "coarse", 0.030, verified=True, status="MISMATCH", error=MISMATCH_LINE),
    config(1, 8192, 32, 3, "coarse", None, status="COMPILE_ERROR", error=COMPILE_ERROR_LINE),
    config(2, 2048, 8, 4, "stages", 0.037),
    config(3, 2048, 4, 3, "refine", 0.038),
]


def softmax_task() -> dict[str, Any]:
    """Seed fails to compile, repair works (base), grid step kept, block tiling: a MISMATCH then a slower
    repair (reverted), memory access skipped by its rule (with the metrics), advanced memory kept via the
    tuner, final check. Best so far (vs eager): -, 1.2, 1.5, 1.5, 1.5, 1.5, 0.06/0.036, 0.06/0.0362."""
    before_grid = {KERNEL: {"sm__throughput.avg.pct_of_peak_sustained_elapsed": 41.3, "launch__grid_size": 128}}
    after_grid = {KERNEL: {"sm__throughput.avg.pct_of_peak_sustained_elapsed": 78.9, "launch__grid_size": 4096}}
    two_launches = {KERNEL: [{"sm__warps_active.avg.pct_of_peak_sustained_active": 33.5},
                             {"sm__warps_active.avg.pct_of_peak_sustained_active": 35.25}]}
    stalls = {KERNEL: {"smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct": 8.2}}
    attempts = [
        attempt(1, "seed", "FAILED", status="COMPILE_ERROR", reason=SEED_TRACEBACK,
                decision_reason="seed does not compile", llm=_llm(2100, 900, 0.0125)),
        attempt(2, "repair", "BASE", median_ms=0.050, parent="cand-0001",
                decision_reason="first correct candidate", llm=_llm(3000, 1100, 0.0154)),
        attempt(3, "grid_and_parallel", "KEEP", median_ms=0.040, parent="cand-0002", diff=GRID_DIFF,
                decision_reason="20.0% faster, noise 0.6%", metrics_before=before_grid, metrics_after=after_grid,
                llm=_llm(3500, 1200, 0.0171)),
        attempt(4, "block_tiling", "FAILED", status="MISMATCH", parent="cand-0003",
                reason="MISMATCH output 0 max abs err 3e-2 (atol 1e-4) | rows 0..7",
                decision_reason="wrong result: kept out", metrics_before=two_launches, llm=_llm(3600, 1300, 0.0180)),
        attempt(5, "block_tiling", "REVERT", median_ms=0.044, parent="cand-0003", diff=REVERTED_DIFF,
                decision_reason="slower by 10.0%", llm=_llm(3900, 1250, 0.0185)),
        attempt(6, "memory_access", "SKIP", status=None, origin="rule",
                decision_reason="long-scoreboard stalls 8.2% <= 15%: memory access already fine",
                metrics_before=stalls),
        attempt(7, "advanced_memory", "KEEP", median_ms=0.036, origin="tuner", parent="cand-0003", diff=TUNE_DIFF,
                decision_reason="11.1% faster, noise 0.5%", configs=TUNE_CONFIGS),
        attempt(8, "final", "BASE", median_ms=0.0362, origin="tuner", parent="cand-0007",
                decision_reason="fresh inputs: correct; timed against both baselines"),
    ]
    usage = {"input_tokens": sum(a["llm"]["input_tokens"] for a in attempts if a["llm"]),
             "output_tokens": sum(a["llm"]["output_tokens"] for a in attempts if a["llm"]),
             "cost_usd": sum(a["llm"]["cost_usd"] for a in attempts if a["llm"]),
             "calls": sum(1 for a in attempts if a["llm"])}
    return {
        "key": "23_Softmax", "path": "examples/level1/23_Softmax.py", "hash": "9f2c41d0a7be33e1c5d2",
        "level": 1, "kind": "single", "status": "done", "error": None,
        "baselines": {"eager_ms": EAGER_MS, "compiled_ms": COMPILED_MS, "compile_mode": "max-autotune"},
        "attempts": attempts,
        "best": {"candidate_id": "cand-0007", "median_ms": 0.0362, "speedup_eager": EAGER_MS / 0.0362,
                 "speedup_compiled": COMPILED_MS / 0.0362, "source": FINAL_SOURCE},
        "usage": usage, "wall_s": 95.5, "gpu_s": 41.0,
    }


def run(kind: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"run": {"id": "run-20250101-120000-ab12", "created": "2025-01-01T12:00:00+00:00", "kind": kind,
                    "config": {"threshold": 0.02, "stages": ["grid_and_parallel", "block_tiling"]}, "env": ENV},
            "tasks": tasks}


def task_bundle() -> dict[str, Any]:
    return run("optimize", [softmax_task()])


def small_task(key: str, level: int | None, status: str, *, eager: float | None, compiled: float | None,
               best_ms: float | None, attempts: list[dict[str, Any]] | None = None,
               usage: dict[str, Any] | None = None, gpu_s: float | None = None, wall_s: float | None = None,
               error: str | None = None) -> dict[str, Any]:
    best = None
    if best_ms is not None:
        best = {"candidate_id": f"{key}-best", "median_ms": best_ms,
                "speedup_eager": None if eager is None else eager / best_ms,
                "speedup_compiled": None if compiled is None else compiled / best_ms,
                "source": f"# best of {key}\n"}
    return {"key": key, "path": f"tasks/{key}.py", "hash": key * 2, "level": level,
            "kind": {1: "single", 2: "fusion", 3: "network"}.get(level) if level else None,
            "status": status, "error": error,
            "baselines": {"eager_ms": eager, "compiled_ms": compiled, "compile_mode": "default"},
            "attempts": attempts or [], "best": best,
            "usage": usage or {"input_tokens": 0, "output_tokens": 0, "cost_usd": None, "calls": 0},
            "wall_s": wall_s, "gpu_s": gpu_s}


def batch_bundle() -> dict[str, Any]:
    """Seven tasks. Correct with timings: A 2.0x/1.6x, B 1/1.1 both, C 2.5x/1.25x, F 1.2x/(compile failed).
    D failed, E done without a correct candidate, G still running (its best does not count)."""
    a_attempts = [
        attempt(1, "seed", "BASE", median_ms=0.8, eager_ms=1.0, compiled_ms=0.8),
        attempt(2, "grid_and_parallel", "KEEP", median_ms=0.5, eager_ms=1.0, compiled_ms=0.8),
        attempt(3, "block_tiling", "REVERT", median_ms=0.6, eager_ms=1.0, compiled_ms=0.8),
        attempt(4, "memory_access", "SKIP", status=None, metrics_before={"k": {"m": 1.0}}),
    ]
    b_attempts = [
        attempt(1, "seed", "BASE", median_ms=1.1, eager_ms=1.0, compiled_ms=1.0),
        attempt(2, "grid_and_parallel", "REVERT", median_ms=1.3, eager_ms=1.0, compiled_ms=1.0),
    ]
    c_attempts = [
        attempt(1, "seed", "BASE", median_ms=1.0, eager_ms=2.0, compiled_ms=1.0),
        attempt(2, "grid_and_parallel", "KEEP", median_ms=0.8, eager_ms=2.0, compiled_ms=1.0),
        attempt(3, "block_tiling", "FAILED", status="MISMATCH", reason="output 0 max abs err 0.5"),
    ]
    d_attempts = [attempt(1, "seed", "FAILED", status="TIMEOUT", reason="killed after 120 s")]
    g_attempts = [attempt(1, "seed", "BASE", median_ms=0.5, eager_ms=1.0, compiled_ms=1.0)]
    tasks = [
        small_task("1_A", 1, "done", eager=1.0, compiled=0.8, best_ms=0.5, attempts=a_attempts,
                   usage={"input_tokens": 1000, "output_tokens": 500, "cost_usd": 0.12, "calls": 4},
                   gpu_s=10.0, wall_s=60.0),
        small_task("2_B", 1, "done", eager=1.0, compiled=1.0, best_ms=1.1, attempts=b_attempts,
                   gpu_s=5.0, wall_s=30.0),
        small_task("3_C", 2, "done", eager=2.0, compiled=1.0, best_ms=0.8, attempts=c_attempts,
                   usage={"input_tokens": 2000, "output_tokens": 700, "cost_usd": None, "calls": 3},
                   wall_s=45.0),
        small_task("4_D", 2, "failed", eager=1.0, compiled=1.0, best_ms=None, attempts=d_attempts,
                   usage={"input_tokens": 300, "output_tokens": 100, "cost_usd": 0.05, "calls": 2},
                   gpu_s=3.0, wall_s=125.0, error="seed: TIMEOUT killed after 120 s"),
        small_task("5_E", 3, "done", eager=5.0, compiled=4.0, best_ms=None, gpu_s=2.0, wall_s=20.0),
        small_task("6_F", 3, "done", eager=3.0, compiled=None, best_ms=2.5, gpu_s=1.0, wall_s=10.0),
        small_task("7_G", None, "running", eager=1.0, compiled=1.0, best_ms=0.5, attempts=g_attempts),
    ]
    tasks[5]["best"]["speedup_eager"] = 1.2  # exactly p = 1.2: fast_p counts only speedup > p
    return run("batch", tasks)


def _numbers(value: Any) -> list[float]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, float) else []


@pytest.mark.parametrize("make", [task_bundle, batch_bundle])
def test_bundles_keep_the_export_schema(make: Any) -> None:
    """The test bundles are what export writes: JSON round-trips unchanged, no inf/NaN, no negative figure."""
    bundle = make()
    assert json.loads(json.dumps(bundle, allow_nan=False)) == bundle
    assert all(math.isfinite(n) and n >= 0 for n in _numbers(bundle))
    for task in bundle["tasks"]:
        seqs = [a["seq"] for a in task["attempts"]]
        assert seqs == sorted(set(seqs))
