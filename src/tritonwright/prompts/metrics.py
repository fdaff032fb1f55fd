"""The `[NCU PROFILING METRICS]` body: profiler metrics as the seeds print them.

    Metrics = Mapping[str, Mapping[str, MetricValue] | Sequence[Mapping[str, MetricValue]]]
    check_metrics(data) -> Metrics | None     # MetricsFormatError on anything else
    render_metrics(metrics) -> str

Kernel name -> {metric name: value} for one profiled launch, or a list of such objects for several
launches. Printed as JSON with 2-space indents in the given order: integers without decimals, other
numbers as measured (50.0 stays 50.0), strings quoted. None or an empty mapping prints NO_METRICS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Union

from tritonwright.errors import UserInputError

MetricValue = Union[int, float, str]  # noqa: UP007 - a runtime alias, kept readable on Python 3.10
LaunchMetrics = Mapping[str, MetricValue]
Metrics = Mapping[str, Union[LaunchMetrics, Sequence[LaunchMetrics]]]  # noqa: UP007

NO_METRICS = "No NCU metrics available"


class MetricsFormatError(UserInputError):
    """Metrics that are not kernel -> {metric: value} or kernel -> [{metric: value}, ...]."""


def _check_launch(kernel: str, launch: object) -> None:
    if not isinstance(launch, Mapping):
        raise MetricsFormatError(f"metrics[{kernel!r}]: expected an object of metric values, "
                                 f"got {type(launch).__name__}")
    for name, value in launch.items():
        if not isinstance(name, str):
            raise MetricsFormatError(f"metrics[{kernel!r}]: metric names must be strings, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise MetricsFormatError(f"metrics[{kernel!r}][{name!r}]: expected a number or string, "
                                     f"got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise MetricsFormatError(f"metrics[{kernel!r}][{name!r}]: {value} is not a measurement; "
                                     "leave the metric out instead")


def check_metrics(data: object) -> Metrics | None:
    """Return `data` unchanged if it has the metrics shape (None allowed), else raise MetricsFormatError."""
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise MetricsFormatError(f"metrics: expected an object mapping kernel names to metrics, "
                                 f"got {type(data).__name__}")
    for kernel, launches in data.items():
        if not isinstance(kernel, str):
            raise MetricsFormatError(f"metrics: kernel names must be strings, got {kernel!r}")
        if isinstance(launches, Sequence) and not isinstance(launches, str):
            if not launches:
                raise MetricsFormatError(f"metrics[{kernel!r}]: empty list of launches")
            for launch in launches:
                _check_launch(kernel, launch)
        else:
            _check_launch(kernel, launches)
    return data


def _plain(value: object) -> object:
    """Mappings and sequences as dicts and lists, so json can print any Mapping/Sequence given."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_plain(v) for v in value]
    return value


def render_metrics(metrics: Metrics | None) -> str:
    """The metrics block's text (no trailing newline)."""
    checked = check_metrics(metrics)
    if not checked:
        return NO_METRICS
    return json.dumps(_plain(checked), indent=2, ensure_ascii=False, allow_nan=False)
