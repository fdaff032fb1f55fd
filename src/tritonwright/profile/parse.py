"""Parse ncu's CSV output (`--csv --page raw`) and `--query-metrics` listings. Pure functions on text.

The raw page is a header row, a units row (ID empty) and one row per profiled launch. ncu's own lines
(`==PROF==`, `==WARNING==`, `==ERROR==` and what follows a warning, such as "Available Kernels:") are kept
apart as the log, never parsed as data.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tritonwright.profile.metrics import COMPUTED_BY_NCU, LAUNCH_PREFIXES, base_name
from tritonwright.profile.report import KernelProfile, Launch, Metric, ProfileReport, Value

# Columns of the raw page that describe the launch rather than measure it.
_ID, _KERNEL, _BLOCK, _GRID = "ID", "Kernel Name", "Block Size", "Grid Size"
_DEVICE_NAME = "device__attribute_display_name"
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$")  # 3,145,728 or 1,489.45
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_METRIC_COLUMN = re.compile(r"^[a-z0-9_]+__[a-z0-9_]+")  # ncu metric names are unit__counter[.rollup...]


def parse_value(text: str) -> Value:
    """'3,145,728' -> 3145728, '92.94' or '92.94%' -> 92.94, 'n/a'/'' -> None, anything else stays text."""
    s = text.strip()
    if s.lower() in ("", "n/a", "nan", "-"):
        return None
    if s.endswith("%"):
        s = s[:-1].strip()
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    if not _NUMBER.match(s):
        return text.strip()
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    value = float(s)
    return None if math.isnan(value) or math.isinf(value) else value


def split_lines(text: str) -> tuple[list[str], list[str]]:
    """(CSV lines from the header on, ncu/other log lines)."""
    csv_lines: list[str] = []
    log: list[str] = []
    in_table = False
    for line in text.splitlines():
        if line.startswith('"ID",'):
            in_table = True
        if in_table and line.startswith('"'):
            csv_lines.append(line)
        elif line.strip():
            log.append(line.rstrip())
    return csv_lines, log


def parse_csv(text: str, kernels: Iterable[str] | None = None, requested: Iterable[str] = ()) -> ProfileReport:
    """ncu raw-page CSV -> ProfileReport.

    kernels: the exact kernel names expected (from the candidate's @triton.jit functions); rows of any other
    kernel are left out and named in `dropped_kernels`. requested: the metrics asked for; those absent from
    every row are listed in `missing` (ncu 2025.3 drops metrics it cannot collect without an error).
    """
    csv_lines, log = split_lines(text)
    report = ProfileReport(log=log)
    rows = list(csv.reader(csv_lines))
    if not rows:
        report.missing = tuple(dict.fromkeys(requested))
        return report
    header, body = rows[0], rows[1:]
    units: list[str] = [""] * len(header)
    if body and body[0] and body[0][0] == "":
        units, body = body[0], body[1:]
    wanted = set(kernels) if kernels is not None else None
    dropped: list[str] = []
    for row in body:
        if len(row) != len(header):
            report.log.append(f"(skipped a CSV row with {len(row)} fields, header has {len(header)})")
            continue
        cells = dict(zip(header, row, strict=True))
        name = cells.get(_KERNEL, "")
        if wanted is not None and name not in wanted:
            dropped.append(name)
            continue
        launch = Launch(id=_int_or(cells.get(_ID, ""), len(report.kernels)), kernel=name,
                        block=cells.get(_BLOCK, ""), grid=cells.get(_GRID, ""))
        for col, unit, raw in zip(header, units, row, strict=True):
            if _METRIC_COLUMN.match(col) and col != _DEVICE_NAME:
                launch.metrics[col] = Metric(col, parse_value(raw), unit)
        report.device = report.device or cells.get(_DEVICE_NAME) or None
        report.kernels.setdefault(name, KernelProfile(name)).launches.append(launch)
    report.dropped_kernels = tuple(dict.fromkeys(dropped))
    present = set(header)
    report.missing = tuple(m for m in dict.fromkeys(requested) if m not in present)
    return report


def _int_or(text: str, default: int) -> int:
    value = parse_value(text)
    return value if isinstance(value, int) else default


def ncu_messages(log: Iterable[str], level: str) -> list[str]:
    """ncu's own messages of one level ('ERROR', 'WARNING', 'PROF'), without the ==LEVEL== prefix."""
    prefix = f"=={level}=="
    return [line[len(prefix):].strip() for line in log if line.startswith(prefix)]


def available_kernels(log: Iterable[str]) -> list[str]:
    """The kernels ncu lists after "No kernels were profiled." ("1. relu_kernel" lines)."""
    out: list[str] = []
    listing = False
    for line in log:
        if line.strip() == "Available Kernels:":
            listing = True
            continue
        if listing:
            m = re.match(r"^\s*\d+\.\s+(\S.*)$", line)
            if not m:
                break
            out.append(m.group(1).strip())
    return out


@dataclass(frozen=True)
class MetricCatalog:
    """What `ncu --query-metrics` lists for one device: base metric names (without rollup suffixes)."""

    device: str | None
    bases: frozenset[str]

    def supports(self, metric: str) -> bool:
        if metric.startswith(LAUNCH_PREFIXES) or metric in COMPUTED_BY_NCU:
            return True
        return base_name(metric) in self.bases

    def split(self, metrics: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(supported, unsupported), each in the given order."""
        names = list(dict.fromkeys(metrics))
        return tuple(m for m in names if self.supports(m)), tuple(m for m in names if not self.supports(m))


def parse_query_metrics(text: str) -> MetricCatalog:
    """Parse `ncu --query-metrics` (base mode): a 'Device NAME (CHIP)' line, a table, wrapped descriptions."""
    device = None
    bases: set[str] = set()
    for line in text.splitlines():
        if line.startswith("Device ") and device is None:
            device = line[len("Device "):].strip()
            continue
        if not line or line[0].isspace() or line.startswith(("-", "==", "Metric Name")):
            continue
        name = line.split()[0]
        if _METRIC_COLUMN.match(name.rsplit(".", 1)[-1]):
            bases.add(name)
    return MetricCatalog(device=device, bases=frozenset(bases))
