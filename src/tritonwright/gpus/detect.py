"""Which GPU is this? Match the running device to the spec table; the device's own figures win.

    read_device_props(index=0) -> DeviceProps        # the one call that touches torch.cuda
    DeviceProps.from_torch(props) -> DeviceProps      # from torch.cuda.get_device_properties(i) or a fake
    detect_gpu(props, table=None) -> Detection        # spec to use + notes on what differed

A table match gives the table's name and vendor figures (bandwidth, TFLOPS); where the device reports
SMs, L2, shared memory, threads or compute capability differently (a MIG slice, a cut-down variant),
the reported value is used and a note says so. An unknown device gets a spec built from its properties
with unknown bandwidth and TFLOPS, never an abort.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tritonwright.errors import UserInputError
from tritonwright.gpus.spec import GpuSpec, find_gpu, load_table

# CUDA's per-thread register limit, the same for every compute capability since 3.5.
MAX_REGISTERS_PER_THREAD = 255
# CUDA's per-block thread limit, the same for every compute capability since 2.0.
MAX_THREADS_PER_BLOCK = 1024

ARCHITECTURES: dict[tuple[int, int], str] = {
    (7, 0): "Volta", (7, 2): "Volta", (7, 5): "Turing",
    (8, 0): "Ampere", (8, 6): "Ampere", (8, 7): "Ampere", (8, 9): "Ada Lovelace",
    (9, 0): "Hopper", (10, 0): "Blackwell", (10, 3): "Blackwell", (12, 0): "Blackwell", (12, 1): "Blackwell",
}

_KIB = 1024
_MIB = 1024 * 1024
_GB = 1000**3  # memory sizes are sold in decimal GB


class NoDeviceError(UserInputError):
    """Detection was asked for but no CUDA device is visible."""


@dataclass(frozen=True)
class DeviceProps:
    """What the CUDA runtime says about a device (bytes as reported); None where this torch lacks it."""

    name: str
    major: int
    minor: int
    sm_count: int
    max_threads_per_sm: int | None = None
    warp_size: int | None = None
    l2_cache_bytes: int | None = None
    shared_memory_per_sm_bytes: int | None = None
    shared_memory_per_block_optin_bytes: int | None = None
    total_memory_bytes: int | None = None

    @classmethod
    def from_torch(cls, props: Any) -> DeviceProps:
        """From `torch.cuda.get_device_properties(i)` (or any object with its attribute names)."""

        def opt(attr: str) -> int | None:
            value = getattr(props, attr, None)
            return int(value) if value else None

        return cls(
            name=str(props.name), major=int(props.major), minor=int(props.minor),
            sm_count=int(props.multi_processor_count),
            max_threads_per_sm=opt("max_threads_per_multi_processor"), warp_size=opt("warp_size"),
            l2_cache_bytes=opt("L2_cache_size"),
            shared_memory_per_sm_bytes=opt("shared_memory_per_multiprocessor"),
            shared_memory_per_block_optin_bytes=opt("shared_memory_per_block_optin"),
            total_memory_bytes=opt("total_memory"),
        )


@dataclass(frozen=True)
class Detection:
    """The spec to use for this device, the table entry it matched (None if unknown), and what differed."""

    spec: GpuSpec
    matched: str | None
    notes: tuple[str, ...]


def read_device_props(index: int = 0) -> DeviceProps:
    import torch

    if not torch.cuda.is_available():
        raise NoDeviceError("no CUDA device is visible; pass a GPU name instead (see `tritonwright gpus`)")
    return DeviceProps.from_torch(torch.cuda.get_device_properties(index))


def _number(value: float) -> float:
    """Integral values as int so they print without decimals; others to one decimal."""
    return int(value) if float(value).is_integer() else round(value, 1)


def _measured(props: DeviceProps) -> dict[str, Any]:
    """Spec fields the device reports itself, in the table's units."""
    out: dict[str, Any] = {"compute_capability": f"{props.major}.{props.minor}", "sm_count": props.sm_count}
    if props.max_threads_per_sm:
        out["max_threads_per_sm"] = props.max_threads_per_sm
    if props.warp_size:
        out["warp_size"] = props.warp_size
    if props.l2_cache_bytes:
        out["l2_cache_mb"] = _number(props.l2_cache_bytes / _MIB)
    if props.shared_memory_per_sm_bytes:
        out["shared_memory_per_sm_kb"] = _number(props.shared_memory_per_sm_bytes / _KIB)
    if props.shared_memory_per_block_optin_bytes:
        out["shared_memory_per_block_kb"] = _number(props.shared_memory_per_block_optin_bytes / _KIB)
    return out


_LABELS = {
    "compute_capability": "compute capability", "sm_count": "SM count", "max_threads_per_sm": "threads per SM",
    "warp_size": "warp size", "l2_cache_mb": "L2 cache (MB)", "shared_memory_per_sm_kb": "shared memory per SM (KB)",
    "shared_memory_per_block_kb": "shared memory per block (KB)", "memory_bandwidth_gb_s": "memory bandwidth",
    "tf32_tflops": "TF32 TFLOPS", "bf16_tflops": "BF16 TFLOPS", "fp16_tflops": "FP16 TFLOPS",
    "max_warps_per_sm": "warps per SM", "memory_gb": "memory size",
}


def _with_warps(values: dict[str, Any]) -> dict[str, Any]:
    threads, warp = values.get("max_threads_per_sm"), values["warp_size"]
    values["max_warps_per_sm"] = threads // warp if threads else None
    return values


def _from_table(spec: GpuSpec, props: DeviceProps) -> Detection:
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in _measured(props).items():
        if value != getattr(spec, key):
            changes[key] = value
            notes.append(f"{_LABELS[key]}: table says {getattr(spec, key)}, device reports {value}; "
                         "using the device's value")
    if changes:
        merged = {"max_threads_per_sm": spec.max_threads_per_sm, "warp_size": spec.warp_size, **changes}
        spec = dataclasses.replace(spec, **_with_warps(merged))
    return Detection(spec=spec, matched=spec.name, notes=tuple(notes))


def _from_props(props: DeviceProps) -> Detection:
    arch = ARCHITECTURES.get((props.major, props.minor), f"unknown (compute capability {props.major}.{props.minor})")
    values: dict[str, Any] = {
        "max_threads_per_sm": None, "l2_cache_mb": None, "shared_memory_per_sm_kb": None,
        "shared_memory_per_block_kb": None,
        "warp_size": 32,  # every NVIDIA GPU so far; used only if this torch does not report it
        **_measured(props),
    }
    spec = GpuSpec(
        name=props.name, architecture=arch, memory_bandwidth_gb_s=None, tf32_tflops=None, bf16_tflops=None,
        fp16_tflops=None, max_registers_per_thread=MAX_REGISTERS_PER_THREAD,
        max_threads_per_block=MAX_THREADS_PER_BLOCK,
        memory_gb=_number(props.total_memory_bytes / _GB) if props.total_memory_bytes else None,
        device_names=(props.name,), source="built from the device's own properties (not in the table)",
        **_with_warps(values),
    )
    unknown = [_LABELS.get(k, k.replace("_", " ")) for k, v in spec.to_dict().items() if v is None]
    note = f"{props.name!r} is not in the GPU table; spec built from the device's properties"
    return Detection(spec=spec, matched=None, notes=(note + "; unknown: " + ", ".join(unknown),))


def _base_name(name: str) -> str:
    """A MIG slice reports e.g. "NVIDIA H100 80GB HBM3 MIG 1g.10gb": match on the part before " MIG "."""
    return name.split(" MIG ", 1)[0]


def detect_gpu(props: DeviceProps | None = None, table: dict[str, GpuSpec] | None = None) -> Detection:
    """Spec for the given (or the current, index 0) device; the device's reported figures win."""
    props = props or read_device_props()
    spec = find_gpu(_base_name(props.name), table or load_table())
    return _from_table(spec, props) if spec is not None else _from_props(props)
