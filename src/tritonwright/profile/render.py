"""Render a ProfileReport: the prompt JSON (the seeds' shape), text for prompts, and roofline figures."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from tritonwright.profile.metrics import CORE, DRAM_BYTES, FP32_ADD, FP32_FMA, FP32_MUL
from tritonwright.profile.report import KernelProfile, Launch, ProfileReport

PROMPT_DECIMALS = 2  # ncu's own displays show two decimals; more digits are noise to the model
NO_METRICS = "No NCU metrics available"


def _round(value: int | float, unit: str) -> int | float:
    """Counts stay integers (grid size 3145728); percentages are always floats (ncu prints '100' too)."""
    if isinstance(value, int) and unit != "%":
        return value
    return round(float(value), PROMPT_DECIMALS)


def _launch_object(launch: Launch, names: Iterable[str]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for name in names:
        metric = launch.metrics.get(name)
        if metric is not None and isinstance(metric.value, int | float):
            out[name] = _round(metric.value, metric.unit)
    return out


def render_metrics_json(report: ProfileReport, names: Iterable[str] | None = None) -> dict[str, Any]:
    """{kernel: {metric: value}} for one launch, {kernel: [{...}, ...]} for several (the seeds' shape).

    Only metrics ncu reported are shown, in the order of `names` (default: the core set); kernels in the
    order they ran.
    """
    wanted = list(dict.fromkeys(names if names is not None else CORE))
    out: dict[str, Any] = {}
    for name, kernel in report.kernels.items():
        objects = [_launch_object(launch, wanted) for launch in kernel.launches]
        out[name] = objects[0] if len(objects) == 1 else objects
    return out


def metrics_text(report: ProfileReport | None, names: Iterable[str] | None = None,
                 reason: str | None = None) -> str:
    """The text under [NCU PROFILING METRICS]: the JSON, or the one line saying why there is none."""
    if report is None or not report.kernels:
        return f"{NO_METRICS} ({reason or 'no kernel was profiled'})"
    return json.dumps(render_metrics_json(report, names), indent=2)


@dataclass(frozen=True)
class PeakRates:
    """The GPU's ceilings, from the spec table or a measured copy/matmul; wired to gpus/ later."""

    dram_bytes_per_s: float
    fp32_flops_per_s: float | None = None
    source: str = ""  # e.g. "spec: H100 SXM" or "measured: device-to-device copy"


@dataclass(frozen=True)
class RooflinePoint:
    kernel: str
    duration_ns: float
    dram_bytes: float | None
    dram_bytes_per_s: float | None
    dram_share_of_peak: float | None  # 0..1
    fp32_flops: float | None  # CUDA-core FP32 only: tensor-core work is not counted
    fp32_flops_per_s: float | None
    fp32_share_of_peak: float | None
    flops_per_byte: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fp32_flops(kernel: KernelProfile) -> float | None:
    parts = [kernel.total(FP32_ADD), kernel.total(FP32_MUL), kernel.total(FP32_FMA)]
    if any(p is None for p in parts):
        return None
    add, mul, fma = (float(p) for p in parts if p is not None)
    return add + mul + 2.0 * fma  # an FMA is two floating-point operations


def roofline(report: ProfileReport, peaks: PeakRates) -> dict[str, RooflinePoint]:
    """Achieved DRAM bandwidth and FP32 rate per kernel (all its launches), as shares of the peaks."""
    out: dict[str, RooflinePoint] = {}
    for name, kernel in report.kernels.items():
        duration = kernel.duration_ns()
        if not duration:
            continue
        seconds = duration * 1e-9
        dram = kernel.total(DRAM_BYTES)
        flops = _fp32_flops(kernel)
        bw = dram / seconds if dram is not None else None
        rate = flops / seconds if flops is not None else None
        out[name] = RooflinePoint(
            kernel=name, duration_ns=duration, dram_bytes=dram, dram_bytes_per_s=bw,
            dram_share_of_peak=bw / peaks.dram_bytes_per_s if bw is not None and peaks.dram_bytes_per_s else None,
            fp32_flops=flops, fp32_flops_per_s=rate,
            fp32_share_of_peak=(rate / peaks.fp32_flops_per_s
                                if rate is not None and peaks.fp32_flops_per_s else None),
            flops_per_byte=flops / dram if flops is not None and dram else None,
        )
    return out
