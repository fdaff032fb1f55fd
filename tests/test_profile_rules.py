"""Stage early-exit rules: data, slowest kernel decides, never on a metric that was not collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.profile.metrics import STAGES, metrics_for_stage
from tritonwright.profile.parse import parse_csv
from tritonwright.profile.report import KernelProfile, Launch, Metric, ProfileReport
from tritonwright.profile.rules import EARLY_EXIT_RULES, Condition, decide_all, decide_stage

FIX = Path(__file__).parent / "fixtures" / "ncu"
SM = "sm__throughput.avg.pct_of_peak_sustained_elapsed"
WARPS = "sm__warps_active.avg.pct_of_peak_sustained_active"
L2 = "lts__t_sector_hit_rate.pct"
LSB = "smsp__warp_issue_stalled_long_scoreboard_per_warp_active.pct"
DUR = "gpu__time_duration.sum"


def report_of(name: str) -> ProfileReport:
    return parse_csv((FIX / name).read_text(encoding="utf-8"))


def synthetic(kernels: dict[str, dict[str, float]]) -> ProfileReport:
    report = ProfileReport()
    for i, (name, values) in enumerate(kernels.items()):
        launch = Launch(id=i, kernel=name, metrics={k: Metric(k, v) for k, v in values.items()})
        report.kernels[name] = KernelProfile(name, [launch])
    return report


def test_rules_are_data_with_reasons_and_only_use_collected_metrics():
    assert set(EARLY_EXIT_RULES) == set(STAGES)
    for stage, rule in EARLY_EXIT_RULES.items():
        assert rule.conditions
        for cond in rule.conditions:
            assert cond.reason and cond.metric in metrics_for_stage(stage)
            assert cond.metric in metrics_for_stage(None)  # one profile of any stage decides every stage


def test_mish_seed_decisions():
    decisions = {d.stage: d for d in decide_all(report_of("mish.csv"))}
    assert decisions["grid_and_parallel"].skip  # 89.73% SM throughput
    assert decisions["block_tiling"].skip  # 90.36% warps active
    assert not decisions["memory_access"].skip  # 19.71% long-scoreboard stalls > 15
    assert not decisions["advanced_memory"].skip  # L2 hit 49.93%
    assert decisions["grid_and_parallel"].kernel == "fused_activation_kernel_optimized"
    assert decisions["grid_and_parallel"].values == {SM: 89.73}


def test_elu_seed_decisions():
    decisions = {d.stage: d for d in decide_all(report_of("elu.csv"))}
    assert not decisions["grid_and_parallel"].skip  # memory-bound: 20.8% SM throughput
    assert decisions["block_tiling"].skip
    assert "92.11" in decisions["memory_access"].reason and not decisions["memory_access"].skip


def test_slowest_kernel_decides():
    report = synthetic({"fast": {SM: 10.0, DUR: 100.0}, "slow": {SM: 80.0, DUR: 900.0}})
    d = decide_stage(report, "grid_and_parallel")
    assert d.skip and d.kernel == "slow"
    report = synthetic({"fast": {SM: 90.0, DUR: 100.0}, "slow": {SM: 40.0, DUR: 900.0}})
    assert not decide_stage(report, "grid_and_parallel").skip


def test_without_durations_every_kernel_must_pass():
    assert decide_stage(synthetic({"a": {SM: 90.0}, "b": {SM: 80.0}}), "grid_and_parallel").skip
    d = decide_stage(synthetic({"a": {SM: 90.0}, "b": {SM: 50.0}}), "grid_and_parallel")
    assert not d.skip and d.kernel == "b"


def test_uncollected_metric_never_skips():
    report = report_of("bad_metric.csv")  # has SM throughput and durations, nothing else
    d = decide_stage(report, "memory_access")
    assert not d.skip and "not collected" in d.reason and LSB in d.reason


def test_all_conditions_must_hold():
    both = synthetic({"k": {L2: 95.0, LSB: 5.0, DUR: 1.0}})
    assert decide_stage(both, "advanced_memory").skip
    one = synthetic({"k": {L2: 95.0, LSB: 12.0, DUR: 1.0}})
    assert not decide_stage(one, "advanced_memory").skip


def test_boundaries_are_inclusive_as_written():
    assert decide_stage(synthetic({"k": {SM: 75.0}}), "grid_and_parallel").skip
    assert not decide_stage(synthetic({"k": {SM: 74.99}}), "grid_and_parallel").skip
    assert decide_stage(synthetic({"k": {LSB: 15.0}}), "memory_access").skip
    assert decide_stage(synthetic({"k": {WARPS: 60.0}}), "block_tiling").skip


def test_no_report_runs_the_stage():
    d = decide_stage(None, "block_tiling")
    assert not d.skip and d.reason == "no NCU metrics available: the stage runs"


def test_bad_inputs():
    with pytest.raises(ValueError):
        Condition(SM, "=>", 1.0, "typo")
    with pytest.raises(ValueError):
        decide_stage(None, "not_a_stage")
