"""ProfileReport: kernel name -> launches -> metric -> value with unit. Plain, typed, JSON-serializable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tritonwright.profile.metrics import DURATION

Value = int | float | str | None  # None: ncu printed "n/a" or nothing


@dataclass(frozen=True)
class Metric:
    name: str
    value: Value
    unit: str = ""

    def number(self) -> float | None:
        return float(self.value) if isinstance(self.value, int | float) else None


@dataclass
class Launch:
    """One profiled kernel launch (one row of ncu's raw page)."""

    id: int  # ncu's result ID, in launch order
    kernel: str
    block: str = ""  # "(128, 1, 1)"
    grid: str = ""
    metrics: dict[str, Metric] = field(default_factory=dict)

    def number(self, name: str) -> float | None:
        metric = self.metrics.get(name)
        return metric.number() if metric else None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kernel": self.kernel, "block": self.block, "grid": self.grid,
                "metrics": {k: {"value": m.value, "unit": m.unit} for k, m in self.metrics.items()}}


@dataclass
class KernelProfile:
    name: str
    launches: list[Launch] = field(default_factory=list)

    def mean(self, name: str) -> float | None:
        """Mean over the launches that have the metric; None when none has it."""
        values = [v for v in (launch.number(name) for launch in self.launches) if v is not None]
        return sum(values) / len(values) if values else None

    def total(self, name: str) -> float | None:
        values = [v for v in (launch.number(name) for launch in self.launches) if v is not None]
        return sum(values) if values else None

    def duration_ns(self) -> float | None:
        return self.total(DURATION)


@dataclass
class ProfileReport:
    kernels: dict[str, KernelProfile] = field(default_factory=dict)  # in order of first launch
    device: str | None = None
    log: list[str] = field(default_factory=list)  # ncu's own lines (==PROF==, ==WARNING==, ...)
    missing: tuple[str, ...] = ()  # requested metrics absent from ncu's output (ncu drops unknown ones)
    dropped_kernels: tuple[str, ...] = ()  # rows whose kernel was not one of the expected names

    def metric_names(self) -> set[str]:
        return {name for k in self.kernels.values() for launch in k.launches for name in launch.metrics}

    def has(self, metric: str) -> bool:
        """True when at least one launch carries a numeric value for the metric."""
        return any(launch.number(metric) is not None for k in self.kernels.values() for launch in k.launches)

    def slowest_kernel(self) -> KernelProfile | None:
        """The kernel with the largest total duration; None when durations were not collected."""
        timed = [(k.duration_ns(), k) for k in self.kernels.values() if k.duration_ns() is not None]
        return max(timed, key=lambda pair: pair[0] or 0.0)[1] if timed else None  # `or`: never None here

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "kernels": {name: [launch.to_dict() for launch in k.launches] for name, k in self.kernels.items()},
            "missing": list(self.missing),
            "dropped_kernels": list(self.dropped_kernels),
            "log": list(self.log),
        }
