"""Probe (GPU): where a screen's seconds go, with and without compiler processes.

Screens N configs of a softsign kernel (bench/tasks/softsign.py at KernelBench size) after a warm-up session
(the fork server's imports), each setting on kernels no cache has seen: serially compiled, compiler processes,
threads, and the same split over 4 sessions (a tuner's phases). One JSON line per setting: the wall, the
seconds spent timing, the precompile pass, what is left (the sessions themselves), and the compiled kernels the
cache holds (one per config when the timing process found the compiler processes' work).

Usage on a GPU host: PYTHONPATH=src python3 bench/probe_screen.py [N]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

SOURCE = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def softsign_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x / (1 + tl.abs(x)), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x):
        out = torch.empty_like(x)
        n = x.numel()
        softsign_kernel[(triton.cdiv(n, BLOCK_VALUE),)](x, out, n, BLOCK=BLOCK_VALUE, num_warps=WARPS,
                                                        num_stages=STAGES)
        return out
'''


def _cands(n: int, tag: str) -> list:
    from tritonwright.candidate import Candidate

    configs = [(b, w, s) for b in (256, 512, 1024, 2048, 4096, 8192) for w in (2, 4, 8, 16) for s in (2, 3)][:n]
    # the tag is a comment in the kernel's source: another source hash, so nothing comes from an earlier cache
    return [Candidate(source=SOURCE.replace("BLOCK_VALUE", str(b)).replace("WARPS", str(w))
                      .replace("STAGES", str(s)).replace("mask = offs < n", f"mask = offs < n  # {tag}"))
            for b, w, s in configs]


def _breakdown(task, cands) -> dict:
    """One screening session's steps, timed one by one (as runner._screen_session runs them, serially)."""
    from tritonwright.eval import protocol as pr
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig

    cfg = EvalConfig(device="cuda", baselines=False)
    out: dict = {}
    t = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, runner._session(task, cfg, "cuda", Path(tmp), 7) as (ref, cand):
        out["start"] = time.monotonic() - t
        t = time.monotonic()
        ref.call("load", 60, pr.LoadReference())
        out["reference_load"] = time.monotonic() - t
        t = time.monotonic()
        for i, c in enumerate(cands):
            cand.call("load", 60, pr.LoadCandidate(f"c{i}", runner._write_source(c, Path(tmp), f"c{i}")))
        out["candidate_loads"] = time.monotonic() - t
        t = time.monotonic()
        ref.call("inputs", 60, pr.Trial(0, 8, buffers=False))
        cand.call("inputs", 60, pr.TakeInputs(0))
        out["inputs"] = time.monotonic() - t
        t = time.monotonic()
        settings = runner.dataclasses.replace(runner._settings(cfg, False), **runner.SCREEN_SETTINGS)
        for i in range(len(cands)):
            cand.call("timing", 60, pr.Screen([f"c{i}"], settings))
        out["screens"] = time.monotonic() - t
        t = time.monotonic()
    out["shutdown"] = time.monotonic() - t
    return {k: round(v, 2) for k, v in out.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    cache = Path(tempfile.mkdtemp(prefix="probe-screen-cache-"))
    os.environ["TRITON_CACHE_DIR"] = str(cache)
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task

    task = load_task(Path("bench/tasks/softsign.py"), {})
    runner.screen_many(task, _cands(2, "warm-up"), EvalConfig(device="cuda", baselines=False))  # fork server up
    print(json.dumps({"what": "one session's steps", "configs": n, **_breakdown(task, _cands(n, "breakdown"))}))
    for name, processes, threads, sessions in (("serial", 1, 1, 1), ("processes", 0, 1, 1), ("threads", 1, 0, 1),
                                               ("serial, 4 sessions", 1, 1, 4), ("processes, 4 sessions", 0, 1, 4)):
        cfg = EvalConfig(device="cuda", baselines=False, compile_threads=threads, compile_processes=processes)
        cands = _cands(n, name)
        t = time.monotonic()
        results = []
        for k in range(sessions):
            results += runner.screen_many(task, cands[k::sessions], cfg)
        wall = time.monotonic() - t
        screen = sum(r.step_seconds.get("screen", 0.0) for r in results)
        print(json.dumps({
            "what": name, "configs": n, "sessions": sessions, "wall_s": round(wall, 2), "ok": sum(r.ok for r in results),
            "sum_screen_s": round(screen, 2), "precompile_s": results[0].step_seconds.get("precompile"),
            "outside_timing_s": round(wall - screen - sum({r.step_seconds.get("precompile", 0.0) for r in results}), 2),
            "notes": results[0].notes[-1:], "cubins": len(list(cache.rglob("*.cubin")))}))


if __name__ == "__main__":
    main()
