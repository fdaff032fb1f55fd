"""Measure the GPU's ceilings in this run: device-to-device copy bandwidth and matrix-product rates.

Runs inside a job process (bench/jobs.py), never in the orchestrator: only the job holds a CUDA context.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

COPY_BYTES = 4 << 30  # 4 GiB source (8 GiB with the copy): ~70x the H200's 60 MB L2, so DRAM is what is timed
COPY_REPS = 20  # median of 20 copies of ~2 ms each: the spread of a median this size is well under 0.5%
MATMUL_N = 8192  # 8192^3: ~1.1 TFLOP per product, long enough (~1.4 ms in fp16) to hide launch overhead
MATMUL_REPS = 10  # median of ten products after warm-up, as the lent machines' KINDS.md figures were taken
WARMUP_REPS = 3  # clocks ramp up and cuBLAS picks its kernel before anything is timed


@dataclass(frozen=True)
class Rate:
    median: float  # per second: bytes for the copy, FLOP for matrix products
    best: float
    reps: int
    size: str  # what was timed, in words

    def to_dict(self) -> dict[str, Any]:
        return {"median": self.median, "best": self.best, "reps": self.reps, "size": self.size}


def _time_ms(fn: Any, reps: int) -> list[float]:
    import torch

    for _ in range(WARMUP_REPS):
        fn()
    torch.cuda.synchronize()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in events:
        start.record()
        fn()
        end.record()
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in events]


def copy_bandwidth(nbytes: int = COPY_BYTES, reps: int = COPY_REPS) -> Rate:
    """Bytes read plus bytes written per second by `dst.copy_(src)` on one GPU."""
    import torch

    n = nbytes // 4
    src = torch.empty(n, dtype=torch.float32, device="cuda").fill_(1.0)
    dst = torch.empty_like(src)
    times = _time_ms(lambda: dst.copy_(src), reps)
    moved = 2 * n * 4  # read once, written once
    return Rate(median=moved / (statistics.median(times) / 1e3), best=moved / (min(times) / 1e3), reps=reps,
                size=f"copy of {n * 4 / 2**30:.1f} GiB fp32")


def matmul_rate(dtype_name: str, n: int = MATMUL_N, reps: int = MATMUL_REPS) -> Rate:
    """FLOP/s of an n x n x n product of random matrices; fp32 with TF32 off, as the harness runs PyTorch ops."""
    import torch

    dtype = getattr(torch, dtype_name)
    torch.backends.cuda.matmul.allow_tf32 = False
    a = torch.randn(n, n, dtype=dtype, device="cuda")
    b = torch.randn(n, n, dtype=dtype, device="cuda")
    c = torch.empty(n, n, dtype=dtype, device="cuda")
    times = _time_ms(lambda: torch.matmul(a, b, out=c), reps)
    flops = 2 * n**3
    return Rate(median=flops / (statistics.median(times) / 1e3), best=flops / (min(times) / 1e3), reps=reps,
                size=f"{n}x{n}x{n} {dtype_name} matmul")
