"""Optional context for the optimization prompt, all off by default so the default prompt is the seeds'.

    Extras(reference_code=None, input_shapes=None, timing=None, roofline=None)
    extras_from_data(names, data, reference_code=None) -> Extras   # CLI: --extras a,b + --extras-data FILE

`data` is the JSON object of --extras-data:
    {"input_shapes": ["x: float32[128, 64]"],
     "timing": {"latency_ms": 0.41, "eager_ms": 0.75, "compile_ms": 0.45},   # eager/compile optional
     "roofline": {"bound": "memory", "pct_of_roof": 87.5, "arithmetic_intensity": 0.25}}  # last optional
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tritonwright.errors import UserInputError

EXTRA_NAMES: tuple[str, ...] = ("reference", "shapes", "timing", "roofline")
BOUNDS: tuple[str, ...] = ("memory", "compute")


class ExtrasError(UserInputError):
    """An extra was asked for without its data, or its data has the wrong shape."""


def _positive(where: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ExtrasError(f"{where}: expected a positive number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Timing:
    """Current candidate latency and the baselines it is compared with, in milliseconds."""

    latency_ms: float
    eager_ms: float | None = None
    compile_ms: float | None = None

    def __post_init__(self) -> None:
        _positive("timing.latency_ms", self.latency_ms)
        for name in ("eager_ms", "compile_ms"):
            value = getattr(self, name)
            if value is not None:
                _positive(f"timing.{name}", value)


@dataclass(frozen=True)
class Roofline:
    """Where the candidate sits: which roof bounds it and how close it is, in percent of that roof."""

    bound: str
    pct_of_roof: float
    arithmetic_intensity: float | None = None  # FLOP per DRAM byte

    def __post_init__(self) -> None:
        if self.bound not in BOUNDS:
            raise ExtrasError(f"roofline.bound: expected one of {', '.join(BOUNDS)}, got {self.bound!r}")
        _positive("roofline.pct_of_roof", self.pct_of_roof)
        if self.arithmetic_intensity is not None:
            _positive("roofline.arithmetic_intensity", self.arithmetic_intensity)


@dataclass(frozen=True)
class Extras:
    reference_code: str | None = None
    input_shapes: tuple[str, ...] | None = None
    timing: Timing | None = None
    roofline: Roofline | None = None

    def is_empty(self) -> bool:
        return self.reference_code is None and not self.input_shapes and self.timing is None \
            and self.roofline is None


def _object(where: str, value: object, allowed: set[str], required: set[str]) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ExtrasError(f"{where}: expected an object, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise ExtrasError(f"{where}: unknown keys {unknown}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(value))
    if missing:
        raise ExtrasError(f"{where}: missing keys {missing}")
    return value


def _timing(value: object) -> Timing:
    obj = _object("timing", value, {"latency_ms", "eager_ms", "compile_ms"}, {"latency_ms"})
    return Timing(**{k: _positive(f"timing.{k}", v) for k, v in obj.items()})


def _roofline(value: object) -> Roofline:
    obj = _object("roofline", value, {"bound", "pct_of_roof", "arithmetic_intensity"}, {"bound", "pct_of_roof"})
    ai = obj.get("arithmetic_intensity")
    return Roofline(bound=str(obj["bound"]), pct_of_roof=_positive("roofline.pct_of_roof", obj["pct_of_roof"]),
                    arithmetic_intensity=None if ai is None else _positive("roofline.arithmetic_intensity", ai))


def _shapes(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value \
            or not all(isinstance(s, str) and s.strip() for s in value):
        raise ExtrasError("input_shapes: expected a non-empty list of strings, e.g. [\"x: float32[128, 64]\"]")
    return tuple(value)


def extras_from_data(names: Sequence[str], data: Mapping[str, object] | None,
                     reference_code: str | None = None) -> Extras:
    """Build Extras for the named extras only; each named one must have its data."""
    unknown = [n for n in names if n not in EXTRA_NAMES]
    if unknown:
        raise ExtrasError(f"unknown extra {unknown[0]!r}; valid extras: {', '.join(EXTRA_NAMES)}")
    data = _object("extras data", data or {}, {"input_shapes", "timing", "roofline"}, set())
    need = {"shapes": "input_shapes", "timing": "timing", "roofline": "roofline"}
    for name, key in need.items():
        if name in names and key not in data:
            raise ExtrasError(f"--extras {name} needs {key!r} in the extras data file")
    if "reference" in names and reference_code is None:
        raise ExtrasError("--extras reference needs the reference task (--task)")
    return Extras(
        reference_code=reference_code if "reference" in names else None,
        input_shapes=_shapes(data["input_shapes"]) if "shapes" in names else None,
        timing=_timing(data["timing"]) if "timing" in names else None,
        roofline=_roofline(data["roofline"]) if "roofline" in names else None,
    )
