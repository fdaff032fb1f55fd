"""Parser tests on real ncu 2025.3 CSV captured on an H200 (tests/fixtures/ncu)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tritonwright.profile.metrics import CORE, STAGES, all_metrics
from tritonwright.profile.parse import (
    available_kernels,
    ncu_messages,
    parse_csv,
    parse_query_metrics,
    parse_value,
)
from tritonwright.profile.rules import EARLY_EXIT_RULES

FIX = Path(__file__).parent / "fixtures" / "ncu"
MEMORY_DEPENDENCY = "smsp__warp_issue_stalled_memory_dependency_per_warp_active.pct"


def read(name: str) -> str:
    return (FIX / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def catalog():
    return parse_query_metrics(gzip.decompress((FIX / "query_metrics_h200.txt.gz").read_bytes()).decode())


@pytest.mark.parametrize("text, expected", [
    ("3,145,728", 3145728), ("1,489.45", 1489.45), ("92.94", 92.94), ("92.94%", 92.94), ("50 %", 50),
    ("0", 0), ("-3", -3), ("1e3", 1000.0), ("n/a", None), ("", None), ("nan", None),
    ("(128, 1, 1)", "(128, 1, 1)"), ("PolicySpread", "PolicySpread"), ("1,2", "1,2"),
])
def test_parse_value(text, expected):
    value = parse_value(text)
    assert value == expected and type(value) is type(expected)


def test_elu_seed_values_exactly_as_ncu_printed():
    report = parse_csv(read("elu.csv"), kernels=["elu_kernel"], requested=all_metrics())
    assert list(report.kernels) == ["elu_kernel"]
    (launch,) = report.kernels["elu_kernel"].launches
    got = {name: launch.metrics[name].value for name in CORE}
    assert got == {
        "sm__throughput.avg.pct_of_peak_sustained_elapsed": 20.80,
        "launch__grid_size": 3145728,
        "sm__warps_active.avg.pct_of_peak_sustained_active": 83.30,
        "dram__throughput.avg.pct_of_peak_sustained_elapsed": 88.75,
        "lts__t_sector_hit_rate.pct": 51.09,
    }
    assert launch.metrics["gpu__time_duration.sum"].unit == "ns"
    assert launch.number("gpu__time_duration.sum") == 3011552
    assert launch.metrics["dram__bytes.sum"].value == 12861148672
    assert launch.block == "(128, 1, 1)" and launch.grid == "(3145728, 1, 1)"
    assert report.device == "NVIDIA H200"
    # Collected on the H200 except the two metrics this ncu cannot collect there (see bad_metric.csv).
    assert report.missing == ()


def test_log_lines_are_not_data():
    report = parse_csv(read("elu.csv"))
    assert any(line.startswith("==PROF== Connected") for line in report.log)
    assert ncu_messages(report.log, "WARNING")[0].startswith("Note: Running with unmodified GPU clocks")
    assert all(not name.startswith("==") for name in report.kernels)


def test_kernel_defined_but_not_launched_is_absent():
    report = parse_csv(read("mish.csv"), kernels=["fused_activation_kernel", "fused_activation_kernel_optimized"])
    assert list(report.kernels) == ["fused_activation_kernel_optimized"]
    assert len(report.kernels["fused_activation_kernel_optimized"].launches) == 1  # never the seed's duplicate


def test_several_kernels_and_launches_in_launch_order():
    report = parse_csv(read("multi.csv"))
    assert list(report.kernels) == ["scale_kernel", "relu_kernel"]
    assert [launch.id for launch in report.kernels["relu_kernel"].launches] == [1, 2]
    assert report.slowest_kernel().name == "relu_kernel"  # two launches: 61,984 ns against 30,848 ns


def test_exact_names_never_substrings():
    report = parse_csv(read("multi.csv"), kernels=["relu"])
    assert report.kernels == {}
    assert report.dropped_kernels == ("scale_kernel", "relu_kernel")
    only = parse_csv(read("multi.csv"), kernels=["relu_kernel"])
    assert list(only.kernels) == ["relu_kernel"] and only.dropped_kernels == ("scale_kernel",)


def test_metric_ncu_cannot_collect_is_reported_missing():
    requested = ["sm__throughput.avg.pct_of_peak_sustained_elapsed", MEMORY_DEPENDENCY]
    report = parse_csv(read("bad_metric.csv"), requested=requested)
    assert report.missing == (MEMORY_DEPENDENCY,)
    assert not report.has(MEMORY_DEPENDENCY)
    assert report.has("sm__throughput.avg.pct_of_peak_sustained_elapsed")


def test_no_kernels_profiled_log():
    report = parse_csv(read("no_kernel.log"), requested=CORE)
    assert report.kernels == {}
    assert report.missing == tuple(CORE)
    assert "No kernels were profiled." in ncu_messages(report.log, "WARNING")
    assert available_kernels(report.log) == ["relu_kernel", "scale_kernel"]


def test_query_metrics_catalog(catalog):
    assert catalog.device == "NVIDIA H200 (GH100)"
    assert len(catalog.bases) > 3000
    supported, unsupported = catalog.split([*all_metrics(), MEMORY_DEPENDENCY])
    assert unsupported == (MEMORY_DEPENDENCY,)
    assert set(CORE) <= set(supported)


def test_every_rule_metric_is_collectable_on_the_h200(catalog):
    for stage in STAGES:
        for metric in EARLY_EXIT_RULES[stage].metrics():
            assert catalog.supports(metric), metric
            assert parse_csv(read("elu.csv")).has(metric), metric
