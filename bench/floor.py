"""Speed-of-light floor of a task: the bytes it must move over the measured copy bandwidth, and its FLOPs
over the measured matrix rate, whichever takes longer.

Shapes and dtypes come from the task's own tensors, built on PyTorch's meta device (no memory, no GPU):
inputs, parameters and buffers are read once, outputs written once; FLOPs are what PyTorch's
FlopCounterMode counts for the reference forward (matmul, linear, convolution; elementwise work is 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Matrix rates are measured per dtype; a task's FLOPs are charged at the rate of its output dtype.
RATE_DTYPES = ("float16", "bfloat16", "float32")


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
                "int8": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1}


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
    """Rates measured on the GPU in the same run: device-to-device copy (read + write) and matrix products."""

    copy_bytes_per_s: float
    matmul_flops_per_s: dict[str, float] = field(default_factory=dict)  # dtype -> FLOP/s


@dataclass(frozen=True)
class Floor:
    ms: float
    memory_ms: float
    compute_ms: float | None  # None: no FLOPs counted, or no rate measured for the dtype
    limit: str  # "memory" | "compute"

    def to_dict(self) -> dict[str, Any]:
        return {"ms": self.ms, "memory_ms": self.memory_ms, "compute_ms": self.compute_ms, "limit": self.limit}


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


def _spec(t: Any) -> TensorSpec:
    return TensorSpec(tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch."))


def task_traffic(task: Any, seed: int = 42) -> Traffic:
    """Build the task's model and inputs on the meta device and run its forward under a FLOP counter.

    `task` is a tritonwright.task.Task (overrides applied). Runs on any machine: meta tensors have shapes and
    dtypes but no storage.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tritonwright.eval import loading
    from tritonwright.eval.checks import as_output_list
    from tritonwright.task import exec_task_module

    module = exec_task_module(task, "tritonwright_bench_floor")
    meta = torch.device("meta")
    model = loading.construct(module.Model, loading.make_init_args(module, task.path), seed, meta, "Model")
    inputs = loading.make_inputs(module, task.path, seed + 1, meta)
    state = list(model.parameters()) + [b for b in model.buffers() if b is not None]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        outputs = [o for o in as_output_list(model(*inputs)) if isinstance(o, torch.Tensor)]
    writes = tuple(_spec(o) for o in outputs)
    return Traffic(reads=tuple(_spec(t) for t in [*inputs, *state]), writes=writes,
                   flops=int(counter.get_total_flops()),
                   compute_dtype=writes[0].dtype if writes else "float32")
