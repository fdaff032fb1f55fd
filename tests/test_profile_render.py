"""Prompt JSON in the seeds' shape, the no-metrics line, and roofline figures, on real H200 captures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tritonwright.profile.metrics import CORE, prompt_metrics
from tritonwright.profile.parse import parse_csv
from tritonwright.profile.render import NO_METRICS, PeakRates, metrics_text, render_metrics_json, roofline

FIX = Path(__file__).parent / "fixtures" / "ncu"


def report_of(name: str, **kw):
    return parse_csv((FIX / name).read_text(encoding="utf-8"), **kw)


def test_single_launch_renders_an_object_like_seed_003():
    assert render_metrics_json(report_of("elu.csv")) == {
        "elu_kernel": {
            "sm__throughput.avg.pct_of_peak_sustained_elapsed": 20.8,
            "launch__grid_size": 3145728,
            "sm__warps_active.avg.pct_of_peak_sustained_active": 83.3,
            "dram__throughput.avg.pct_of_peak_sustained_elapsed": 88.75,
            "lts__t_sector_hit_rate.pct": 51.09,
        }
    }


def test_mish_renders_one_object_for_the_launched_kernel_only():
    out = render_metrics_json(report_of("mish.csv"))
    assert out == {
        "fused_activation_kernel_optimized": {
            "sm__throughput.avg.pct_of_peak_sustained_elapsed": 89.73,
            "launch__grid_size": 127008,  # the seed's grid: 64*128*126*126 / 1024
            "sm__warps_active.avg.pct_of_peak_sustained_active": 90.36,
            "dram__throughput.avg.pct_of_peak_sustained_elapsed": 60.52,
            "lts__t_sector_hit_rate.pct": 49.93,
        }
    }
    assert list(json.loads(metrics_text(report_of("mish.csv")))) == ["fused_activation_kernel_optimized"]


def test_several_launches_render_a_list_in_order():
    out = render_metrics_json(report_of("multi.csv"))
    assert isinstance(out["scale_kernel"], dict)
    assert [launch["lts__t_sector_hit_rate.pct"] for launch in out["relu_kernel"]] == [49.67, 50.89]
    assert list(out["relu_kernel"][0]) == list(CORE)


def test_order_follows_names_and_absent_metrics_are_left_out():
    names = ["launch__grid_size", "no__such_metric.sum", "l1tex__t_sector_hit_rate.pct"]
    out = render_metrics_json(report_of("elu.csv"), names)
    assert out == {"elu_kernel": {"launch__grid_size": 3145728, "l1tex__t_sector_hit_rate.pct": 0.0}}
    assert isinstance(out["elu_kernel"]["l1tex__t_sector_hit_rate.pct"], float)  # ncu printed "0", a percent


def test_stage_prompt_metrics_start_with_the_core_five():
    for stage in (None, "block_tiling", "memory_access"):
        assert prompt_metrics(stage)[:5] == tuple(CORE)
    out = render_metrics_json(report_of("elu.csv"), prompt_metrics("block_tiling"))
    assert out["elu_kernel"]["launch__registers_per_thread"] == 16


def test_no_metrics_line_says_why():
    assert metrics_text(None, reason="ncu not found") == f"{NO_METRICS} (ncu not found)"
    assert metrics_text(report_of("no_kernel.log")).startswith(NO_METRICS)


def test_roofline_from_elu_counters():
    peaks = PeakRates(dram_bytes_per_s=4.8e12, fp32_flops_per_s=67e12, source="H200 datasheet")
    point = roofline(report_of("elu.csv"), peaks)["elu_kernel"]
    assert point.duration_ns == 3011552
    assert point.dram_bytes_per_s == pytest.approx(12861148672 / 3011552e-9)  # ~4.27 TB/s
    assert point.dram_share_of_peak == pytest.approx(0.89, abs=0.01)  # agrees with ncu's 88.75% dram throughput
    # fadd 1,610,612,736 + fmul 2,415,941,389 + 2 * ffma 0 executed thread instructions
    assert point.fp32_flops == 1610612736 + 2415941389
    assert point.flops_per_byte == pytest.approx(point.fp32_flops / 12861148672)
    assert point.fp32_flops_per_s == pytest.approx(1.337e12, rel=1e-3)
    assert point.fp32_share_of_peak == pytest.approx(1.337e12 / 67e12, rel=1e-3)


def test_roofline_without_flop_counters_or_peak():
    report = report_of("bad_metric.csv")  # only sm__throughput was requested there
    point = roofline(report, PeakRates(dram_bytes_per_s=4.8e12))["relu_kernel"]
    assert point.dram_bytes is None and point.fp32_flops is None and point.fp32_share_of_peak is None
    assert point.duration_ns == 62240  # both relu_kernel launches
