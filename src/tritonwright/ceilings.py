"""The GPU's ceilings: device-to-device copy bandwidth and matrix-product rates, measured on the GPU once per
GPU model, driver and torch/triton versions, and cached on disk beside the baseline timings.

Measuring holds a CUDA context and several GiB of memory: it runs in a child process (tritonwright.floor),
never in the driver or a pool worker.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass
from typing import Any

from tritonwright.eval import baseline_cache

_VERSION = 1  # bump when the method changes: cached ceilings then stop matching and are measured again
CACHE_FOLDER = "ceilings"  # under the baseline cache's root ($TRITONWRIGHT_CACHE_DIR or ~/.cache/tritonwright)
COPY_BYTES = 4 << 30  # 4 GiB source (8 GiB with the copy): ~70x the H200's 60 MB L2, so DRAM is what is timed
COPY_MIN_BYTES = 256 << 20  # below this a copy would partly hit L2 on current GPUs: no bandwidth is claimed
COPY_REPS = 20  # median of 20 copies of ~2 ms each: the spread of a median this size is well under 0.5%
MATMUL_N = 8192  # 8192^3: ~1.1 TFLOP per product, long enough (~1.4 ms in fp16) to hide launch overhead
MATMUL_REPS = 10  # median of ten products after warm-up, as the lent machines' KINDS.md figures were taken
WARMUP_REPS = 3  # clocks ramp up and cuBLAS picks its kernel before anything is timed
RATE_DTYPES = ("float16", "bfloat16", "float32")  # the dtypes a task's FLOPs can be charged at


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


def copy_size(free_bytes: int, wanted: int = COPY_BYTES) -> int:
    """The copy's source size: `wanted`, or what fits three times in free memory (source, copy, headroom)."""
    fits = free_bytes // 3
    return max(0, min(wanted, fits) // (1 << 20) * (1 << 20))  # whole MiB


def measure(dtypes: tuple[str, ...] = RATE_DTYPES) -> dict[str, Any]:
    """Copy bandwidth and matrix rates of the GPU this process sees, now: {"copy": Rate, "matmul": {...}}."""
    import torch

    free, _ = torch.cuda.mem_get_info()
    nbytes = copy_size(free)
    if nbytes < COPY_MIN_BYTES:
        raise RuntimeError(f"only {free / 2**30:.1f} GiB of GPU memory free: too little for a copy that is not "
                           "served from L2")
    copy = copy_bandwidth(nbytes)
    torch.cuda.empty_cache()
    rates = {d: matmul_rate(d).to_dict() for d in dtypes}
    torch.cuda.empty_cache()
    return {"copy": copy.to_dict(), "matmul": rates}


def cache_key(env_key: str, dtypes: tuple[str, ...] = RATE_DTYPES) -> str:
    """GPU, driver, CUDA, torch, triton (Environment.key) and the measuring method."""
    blob = json.dumps([_VERSION, env_key, COPY_BYTES, COPY_REPS, MATMUL_N, MATMUL_REPS, list(dtypes)])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cached_or_measured(env_key: str, cache_dir: str | None, use_cache: bool = True
                       ) -> tuple[dict[str, Any], bool]:
    """The ceilings of this GPU from the disk cache, or measured now and cached; (ceilings, was_cached)."""
    key = cache_key(env_key)
    if use_cache:
        hit = baseline_cache.load(key, cache_dir, folder=CACHE_FOLDER)
        if hit is not None and hit.get("copy") and hit.get("matmul"):
            return hit, True
    value = measure() | {"env_key": env_key}
    baseline_cache.store(key, value, cache_dir, folder=CACHE_FOLDER)
    return value, False
