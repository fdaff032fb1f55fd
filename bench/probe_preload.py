"""Probe (GPU): can a screen's configs be compiled in other processes and found compiled by the timing process?

One process records each config's specialization (Triton's jit_cache_hook, compiling nothing), K fresh
processes compile them with JITFunction.preload into the shared Triton cache, and the first process then
launches every config: its compiles should be cache hits. Compared with compiling the same configs serially in
one process (a fresh cache). Prints one JSON line per measurement.

Usage on a GPU host: PYTHONPATH=src python3 bench/probe_preload.py [CONFIGS] [PROCESSES]
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

KERNEL = '''
import triton
import triton.language as tl


@triton.jit
def softmax_kernel(out_ptr, in_ptr, n_cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(in_ptr + row * stride + offs, mask=mask, other=-float("inf"))
    x = x - tl.max(x, 0)
    e = tl.exp(x)
    tl.store(out_ptr + row * stride + offs, e / tl.sum(e, 0), mask=mask)
'''


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _configs(n: int) -> list[tuple[int, int]]:
    return [(block, warps) for block in (4096, 8192, 16384) for warps in (2, 4, 8, 16, 32)][:n]


def _write(folder: Path, n: int, tag: str) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        path = folder / f"{tag}{i}.py"
        path.write_text(KERNEL)
        out.append((str(path), f"probe_{tag}{i}"))
    return out


def _launch_all(mods: list[tuple[str, str]], n: int) -> float:
    import torch

    x = torch.randn(512, 16384, device="cuda")
    y = torch.empty_like(x)
    t = time.perf_counter()
    for (path, name), (block, warps) in zip(mods, _configs(n), strict=True):
        m = sys.modules.get(name) or _load(path, name)
        m.softmax_kernel[(x.shape[0],)](y, x, x.shape[1], x.stride(0), BLOCK=block, num_warps=warps)
    torch.cuda.synchronize()
    return time.perf_counter() - t


def _compile_jobs(jobs: list[tuple[str, str, str]]) -> tuple[int, int, float]:
    t = time.perf_counter()
    ok = failed = 0
    for path, name, spec in jobs:
        try:
            m = sys.modules.get(name) or _load(path, name)
            m.softmax_kernel.preload(spec)
            ok += 1
        except Exception as exc:  # noqa: BLE001 - a probe: count and say
            print("preload failed:", type(exc).__name__, str(exc)[:300], file=sys.stderr)
            failed += 1
    return ok, failed, time.perf_counter() - t


def main() -> None:
    n = min(15, int(sys.argv[1]) if len(sys.argv) > 1 else 15)  # _configs has 15
    k = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    import torch
    import triton

    base = Path(tempfile.mkdtemp(prefix="probe-preload-"))
    # 1. serial: a fresh cache, every config compiled on its first launch in this process
    os.environ["TRITON_CACHE_DIR"] = str(base / "cache-serial")
    serial = _launch_all(_write(base, n, "s"), n)
    print(json.dumps({"what": "serial compile+launch", "configs": n, "s": round(serial, 2)}))
    # 2. record specializations, compile in K processes, launch here (cache hits)
    os.environ["TRITON_CACHE_DIR"] = str(base / "cache-parallel")
    mods = _write(base, n, "p")
    recorded: list[tuple[str, str, str]] = []
    paths = dict((name, path) for path, name in mods)

    def hook(*, key, repr, fn, compile, is_manual_warmup, already_compiled):  # noqa: A002
        recorded.append((paths[fn.module], fn.module, compile["specialization_data"]))
        return True  # compile nothing now

    triton.knobs.runtime.jit_cache_hook = hook
    t = time.perf_counter()
    _launch_all(mods, n)
    record_s = time.perf_counter() - t
    triton.knobs.runtime.jit_cache_hook = None
    for name in paths:
        sys.modules.pop(name, None)  # the launch below imports them afresh (a JITFunction keeps its kernels)
    ctx = mp.get_context("spawn")
    t = time.perf_counter()
    with ctx.Pool(k) as pool:
        parts = pool.map(_compile_jobs, [recorded[i::k] for i in range(k)])
    pool_s = time.perf_counter() - t
    hits = _launch_all(mods, n)
    print(json.dumps({"what": "record + K-process preload + launch", "configs": n, "processes": k,
                      "recorded": len(recorded), "record_s": round(record_s, 3), "pool_s": round(pool_s, 2),
                      "compiled": sum(p[0] for p in parts), "failed": sum(p[1] for p in parts),
                      "busiest_process_s": round(max(p[2] for p in parts), 2), "launch_after_s": round(hits, 3),
                      "torch": torch.__version__, "triton": triton.__version__}))


if __name__ == "__main__":
    main()
