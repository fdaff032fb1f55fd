"""Speed-of-light floor of a task: the bytes it must move over the measured copy bandwidth, and its FLOPs
over the measured matrix rate, whichever takes longer. The one implementation: the optimizer stops at it and
the bench suite reports against it.

Shapes and dtypes come from the task's own tensors, built on PyTorch's meta device (no memory, no GPU):
inputs, parameters and buffers are read once, outputs written once; FLOPs are what PyTorch's
FlopCounterMode counts for the reference forward (matmul, linear, convolution; elementwise work is 0).
The ceilings are measured on the GPU once per GPU and versions (tritonwright.ceilings).

`measure_floor` runs the whole thing in a child process (`python -m tritonwright.floor`, JSON on stdin and
stdout): the task's module is executed there, and only the child holds a CUDA context.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from tritonwright.ceilings import RATE_DTYPES

FLOOR_TIMEOUT_S = 300.0  # process start and torch import take seconds, the first measurement ~10 s more;
# a busy host's cold start can take minutes, and past this the floor is unavailable, never the task failed
NO_GPU_REASON = ("no GPU: the ceilings (copy bandwidth, matmul rate) can only be measured on one, so there is "
                 "no floor and nothing stops early")

__all__ = ["BELOW_FLOOR", "FAR_FROM_FLOOR", "RATE_DTYPES", "Ceilings", "Floor", "FloorInfo", "TensorSpec", "Traffic",
           "at_floor", "below_floor", "dtype_size", "far_from_floor", "floor_here", "floor_of", "measure_floor", "ratio_to_floor",
           "task_traffic"]


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str  # torch dtype name without the "torch." prefix

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * dtype_size(self.dtype)


_DTYPE_SIZES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4, "int16": 2,
                "int8": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1, "complex64": 8,
                "complex128": 16}


def dtype_size(dtype: str) -> int:
    try:
        return _DTYPE_SIZES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (known: {', '.join(sorted(_DTYPE_SIZES))})") from None


@dataclass(frozen=True)
class Traffic:
    """What a task must read and write, and the FLOPs of its matrix work."""

    reads: tuple[TensorSpec, ...]  # inputs, parameters and buffers
    writes: tuple[TensorSpec, ...]  # outputs
    flops: int = 0
    compute_dtype: str = "float32"  # dtype whose matrix rate bounds the FLOPs (the first output's)

    @property
    def bytes_read(self) -> int:
        return sum(t.nbytes for t in self.reads)

    @property
    def bytes_written(self) -> int:
        return sum(t.nbytes for t in self.writes)

    @property
    def bytes_moved(self) -> int:
        return self.bytes_read + self.bytes_written

    def to_dict(self) -> dict[str, Any]:
        return {"reads": [[list(t.shape), t.dtype] for t in self.reads],
                "writes": [[list(t.shape), t.dtype] for t in self.writes],
                "bytes_read": self.bytes_read, "bytes_written": self.bytes_written, "bytes_moved": self.bytes_moved,
                "flops": self.flops, "compute_dtype": self.compute_dtype}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Traffic:
        return Traffic(reads=tuple(TensorSpec(tuple(s), t) for s, t in d["reads"]),
                       writes=tuple(TensorSpec(tuple(s), t) for s, t in d["writes"]),
                       flops=int(d.get("flops", 0)), compute_dtype=d.get("compute_dtype", "float32"))


@dataclass(frozen=True)
class Ceilings:
    """Rates measured on the GPU: device-to-device copy (read + write) and matrix products."""

    copy_bytes_per_s: float
    matmul_flops_per_s: dict[str, float] = field(default_factory=dict)  # dtype -> FLOP/s

    def to_dict(self) -> dict[str, Any]:
        return {"copy_bytes_per_s": self.copy_bytes_per_s, "matmul_flops_per_s": dict(self.matmul_flops_per_s)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Ceilings:
        rates = {k: float(v) for k, v in d.get("matmul_flops_per_s", {}).items()}
        return Ceilings(float(d["copy_bytes_per_s"]), rates)

    @staticmethod
    def from_measured(m: dict[str, Any]) -> Ceilings:
        """From tritonwright.ceilings.measure's {"copy": Rate, "matmul": {dtype: Rate}}: the medians."""
        return Ceilings(copy_bytes_per_s=float(m["copy"]["median"]),
                        matmul_flops_per_s={d: float(r["median"]) for d, r in (m.get("matmul") or {}).items()})


@dataclass(frozen=True)
class Floor:
    ms: float
    memory_ms: float
    compute_ms: float | None  # None: no FLOPs counted, or no rate measured for the dtype
    limit: str  # "memory" | "compute"

    def to_dict(self) -> dict[str, Any]:
        return {"ms": self.ms, "memory_ms": self.memory_ms, "compute_ms": self.compute_ms, "limit": self.limit}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Floor:
        return Floor(float(d["ms"]), float(d["memory_ms"]),
                     None if d.get("compute_ms") is None else float(d["compute_ms"]), str(d["limit"]))


def floor_of(traffic: Traffic, ceilings: Ceilings) -> Floor:
    """The longer of bytes over copy bandwidth and FLOPs over the matrix rate of the task's dtype."""
    if ceilings.copy_bytes_per_s <= 0:
        raise ValueError("copy bandwidth must be positive")
    memory_ms = traffic.bytes_moved / ceilings.copy_bytes_per_s * 1e3
    rate = ceilings.matmul_flops_per_s.get(traffic.compute_dtype)
    compute_ms = traffic.flops / rate * 1e3 if traffic.flops and rate else None
    if compute_ms is not None and compute_ms > memory_ms:
        return Floor(compute_ms, memory_ms, compute_ms, "compute")
    return Floor(memory_ms, memory_ms, compute_ms, "memory")


def ratio_to_floor(ms: float | None, floor: Floor | None) -> float | None:
    if ms is None or floor is None or floor.ms <= 0:
        return None
    return ms / floor.ms


FAR_FROM_FLOOR = 2.0  # a best over 2x its floor has room whatever its ncu metrics say, so the metrics' early-exit
# rules skip nothing there: on the H200 replay they skipped 6 stages of tasks at 4.5-6.5x their floor (SMs busy,
# occupancy high: busy with wasted work), and the one stage left to such a task gained 2.2x
# (bench/results/2026-12-04-H200-replay-21, 79_Conv3d_...); within 2x the rules' savings stand


def far_from_floor(ms: float | None, floor: Floor | None) -> bool:
    """`ms` is over FAR_FROM_FLOOR x the floor: room is left whatever the kernel's metrics say."""
    ratio = ratio_to_floor(ms, floor)
    return ratio is not None and ratio > FAR_FROM_FLOOR


BELOW_FLOOR = 0.9  # a best under 0.9x of the floor means the floor's model does not hold for it: kernels at the
# copy floor measured 1.00-1.04x on an H200 (bench/results/2026-12-04-H200-replay), while an fp16-cast fp32 matmul
# ran at 0.18x of a floor that charges its FLOPs at the fp32 rate; 10 % leaves room for the ceilings' own noise


def below_floor(ms: float | None, floor: Floor | None) -> bool:
    """`ms` is clearly under the floor: the floor's model (bytes, FLOPs at the task dtype's rate) does not
    describe this kernel, e.g. reduced precision or work PyTorch's FLOP counter does not see."""
    ratio = ratio_to_floor(ms, floor)
    return ratio is not None and ratio < BELOW_FLOOR


def at_floor(ms: float | None, floor: Floor | None, threshold: float) -> bool:
    """True when `ms` is within `threshold` (0.05 = 5%) of the floor; never without a time, a floor or a
    positive threshold (0 turns the stop off), and never clearly below it (below_floor: the floor is wrong there,
    so it proves nothing)."""
    ratio = ratio_to_floor(ms, floor)
    return threshold > 0 and ratio is not None and BELOW_FLOOR <= ratio <= 1.0 + threshold


def _spec(t: Any) -> TensorSpec:
    return TensorSpec(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))


def task_traffic(task: Any, seed: int = 42, device: str = "meta") -> Traffic:
    """Build the task's model and inputs on `device` (meta: shapes and dtypes, no storage, any machine) and
    run its forward under a FLOP counter. `task` is a tritonwright.task.Task (overrides applied)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tritonwright.eval import loading
    from tritonwright.eval.checks import as_output_list
    from tritonwright.task import exec_task_module

    module = exec_task_module(task, "tritonwright_floor_task")
    dev = torch.device(device)
    model = loading.construct(module.Model, loading.make_init_args(module, task.path), seed, dev, "Model")
    inputs = loading.make_inputs(module, task.path, seed + 1, dev)
    state = list(model.parameters()) + [b for b in model.buffers() if b is not None]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = [o for o in as_output_list(model(*inputs)) if isinstance(o, torch.Tensor)]
    writes = tuple(_spec(o) for o in outputs)
    return Traffic(reads=tuple(_spec(t) for t in [*loading.tensors(inputs), *state]), writes=writes,
                   flops=int(counter.get_total_flops()),
                   compute_dtype=writes[0].dtype if writes else "float32")


# --- a task's floor, as recorded --------------------------------------------------------------------------


@dataclass(frozen=True)
class FloorInfo:
    """A task's floor on one GPU, or why there is none (then nothing stops early)."""

    available: bool
    reason: str = ""  # why there is no floor; notes when there is one
    floor: Floor | None = None
    traffic: Traffic | None = None
    ceilings: Ceilings | None = None
    ceilings_cached: bool | None = None  # True: from the disk cache; False: measured by this call
    gpu: str | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"available": self.available, "reason": self.reason,
                "floor": self.floor.to_dict() if self.floor else None,
                "traffic": self.traffic.to_dict() if self.traffic else None,
                "ceilings": self.ceilings.to_dict() if self.ceilings else None,
                "ceilings_cached": self.ceilings_cached, "gpu": self.gpu, "wall_s": self.wall_s}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> FloorInfo:
        return FloorInfo(available=bool(d.get("available")), reason=str(d.get("reason") or ""),
                         floor=Floor.from_dict(d["floor"]) if d.get("floor") else None,
                         traffic=Traffic.from_dict(d["traffic"]) if d.get("traffic") else None,
                         ceilings=Ceilings.from_dict(d["ceilings"]) if d.get("ceilings") else None,
                         ceilings_cached=d.get("ceilings_cached"), gpu=d.get("gpu"),
                         wall_s=float(d.get("wall_s") or 0.0))

    @staticmethod
    def unavailable(reason: str, wall_s: float = 0.0) -> FloorInfo:
        return FloorInfo(False, reason, wall_s=wall_s)


def measure_floor(task: Any, device: str, cache_dir: str | None = None, use_cache: bool = True,
                  timeout_s: float = FLOOR_TIMEOUT_S) -> FloorInfo:
    """The task's floor on the GPU this process sees, from a child process; never raises for the task's or
    the GPU's problems (they come back as an unavailable floor with the reason)."""
    from tritonwright import sandbox

    if device != "cuda":
        return FloorInfo.unavailable(NO_GPU_REASON)
    t0 = time.monotonic()
    spec = {"path": task.path, "name": task.name, "source": task.source, "overrides": dict(task.overrides),
            "cache_dir": cache_dir, "use_cache": use_cache}
    try:
        proc = subprocess.run([sys.executable, "-m", "tritonwright.floor"], input=json.dumps(spec),
                              env=sandbox.scrubbed_env(), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return FloorInfo.unavailable(f"the floor measurement hung (stopped after {timeout_s:g} s)",
                                     round(time.monotonic() - t0, 3))
    wall = round(time.monotonic() - t0, 3)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()][-1:]
        return FloorInfo.unavailable(f"the floor measurement exited with code {proc.returncode}"
                                     + (f": {tail[0][:300]}" if tail else ""), wall)
    info = FloorInfo.from_dict(json.loads(lines[-1]))
    return FloorInfo(info.available, info.reason, info.floor, info.traffic, info.ceilings, info.ceilings_cached,
                     info.gpu, wall)


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def _child(spec: dict[str, Any]) -> FloorInfo:
    """The child's work: the task's traffic (meta device, else the GPU), the cached or measured ceilings."""
    from tritonwright.task import Task

    task = Task(path=spec["path"], name=spec["name"], source=spec["source"], overrides=spec.get("overrides") or {})
    return floor_here(task, spec.get("cache_dir"), bool(spec.get("use_cache", True)))


def floor_here(task: Any, cache_dir: str | None, use_cache: bool = True, gpu_trace: bool = True,
               env: Any = None) -> FloorInfo:
    """The task's floor computed in this process, on the GPU it sees: the traffic traced on the meta device
    (else, with `gpu_trace`, on the GPU), the cached or measured ceilings. Never raises for the task's or the
    GPU's problems: they come back as an unavailable floor with the reason.

    The floor's own child runs this; so does an evaluation's reference process when asked (EvalConfig.floor),
    which has torch imported and CUDA started already and so saves the child's start (~9 s on an H200), and
    passes its `env` (eval.types.Environment) known already."""
    import torch

    from tritonwright import ceilings as ceil
    from tritonwright.eval.worker import environment

    if not torch.cuda.is_available():
        return FloorInfo.unavailable(NO_GPU_REASON)
    notes = []
    try:
        traffic = task_traffic(task)
    except Exception as exc:  # an op without a meta kernel, a .item() in forward: trace it on the GPU instead
        if not gpu_trace:
            return FloorInfo.unavailable(f"the task's sizes could not be traced on the meta device: {_why(exc)}")
        try:
            traffic = task_traffic(task, device="cuda")
            notes.append(f"sizes traced on the GPU (the meta device failed: {_why(exc)})")
        except Exception as exc2:  # the task itself fails: its evaluation says so; the floor is only absent
            return FloorInfo.unavailable(f"the task's sizes could not be traced: {_why(exc2)}")
        finally:
            torch.cuda.empty_cache()
    env = env or environment(torch.device("cuda"))
    try:
        measured, cached = ceil.cached_or_measured(env.key(), cache_dir, use_cache)
    except Exception as exc:  # out of memory, a driver error: no floor, the run goes on
        return FloorInfo(False, f"the ceilings could not be measured: {_why(exc)}", traffic=traffic, gpu=env.gpu)
    ceilings = Ceilings.from_measured(measured)
    return FloorInfo(True, "; ".join(notes), floor_of(traffic, ceilings), traffic, ceilings, cached, env.gpu)


def main() -> int:
    try:
        info = _child(json.loads(sys.stdin.read()))
    except Exception as exc:  # any failure is the answer: no floor, with the reason
        info = FloorInfo.unavailable(f"the floor could not be computed: {_why(exc)}")
    print(json.dumps(info.to_dict(), allow_nan=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
