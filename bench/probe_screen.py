"""Probe (GPU): where a screen's seconds go, with and without compiler processes.

Screens N configs of a softsign kernel (bench/tasks/softsign.py at KernelBench size) in one screen_many call
on an empty Triton cache, and prints one JSON line: the wall, each config's screen and precompile seconds, the
notes the screen left, and how many compiled kernels the cache holds afterwards (one per config when the
timing process found the compiler processes' work; two when it compiled them again).

Usage on a GPU host: PYTHONPATH=src python3 bench/probe_screen.py PROCESSES THREADS [N]
Run it as its own process per setting: the fork server keeps the environment it started with.
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


def main() -> None:
    processes, threads = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 24
    cache = Path(tempfile.mkdtemp(prefix="probe-screen-cache-"))
    os.environ["TRITON_CACHE_DIR"] = str(cache)
    from tritonwright.candidate import Candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.task import load_task

    configs = [(b, w, s) for b in (256, 512, 1024, 2048, 4096, 8192) for w in (2, 4, 8, 16) for s in (2, 3)][:n]
    cands = [Candidate(source=SOURCE.replace("BLOCK_VALUE", str(b)).replace("WARPS", str(w))
                       .replace("STAGES", str(s))) for b, w, s in configs]
    task = load_task(Path("bench/tasks/softsign.py"), {})
    cfg = EvalConfig(device="cuda", baselines=False, compile_threads=threads, compile_processes=processes)
    runner.prestart("cuda")
    t = time.monotonic()
    results = runner.screen_many(task, cands, cfg)
    wall = time.monotonic() - t
    print(json.dumps({
        "processes": processes, "threads": threads, "configs": n, "wall_s": round(wall, 2),
        "ok": sum(r.ok for r in results), "screen_s": [r.step_seconds.get("screen") for r in results],
        "precompile_s": results[0].step_seconds.get("precompile"), "notes": results[0].notes,
        "cubins": len(list(cache.rglob("*.cubin"))), "reasons": [r.reason[:120] for r in results if not r.ok][:3]}))


if __name__ == "__main__":
    main()
