"""Profile the seed examples on a real GPU under ncu (marked gpu: skipped where CUDA is not visible).

Set TRITONWRIGHT_PROFILE_OUT=dir to keep each outcome (metrics JSON, wall time, versions) as JSON there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tritonwright.profile.collect import ProfileOutcome, ProfileSettings, find_ncu, profile_candidate
from tritonwright.profile.metrics import CORE, DURATION, prompt_metrics
from tritonwright.profile.render import render_metrics_json
from tritonwright.task import load_task

pytestmark = pytest.mark.gpu
FIX = Path(__file__).parent / "fixtures" / "ncu"
ELU_TARGET_S = 30.0  # the target for one profile of the seed ELU at full size


def profile(name: str, **settings) -> ProfileOutcome:
    if find_ncu() is None:
        pytest.skip("ncu not installed")
    outcome = profile_candidate(load_task(FIX / f"{name}_task.py"), str(FIX / f"{name}_candidate.py"),
                                ProfileSettings(**settings))
    keep = os.environ.get("TRITONWRIGHT_PROFILE_OUT")
    if keep:
        data = outcome.to_dict()
        data.pop("report", None)
        if outcome.report:
            data["prompt_metrics"] = render_metrics_json(outcome.report, prompt_metrics(settings.get("stage")))
            data["duration_ns"] = {k: v.duration_ns() for k, v in outcome.report.kernels.items()}
            data["device"] = outcome.report.device
        Path(keep, f"{name}.json").write_text(json.dumps(data, indent=2))
    assert outcome.ok, outcome.reason
    return outcome


def assert_core_present(outcome: ProfileOutcome) -> None:
    for kernel in outcome.report.kernels.values():
        for launch in kernel.launches:
            for metric in (*CORE, DURATION):
                assert launch.number(metric) is not None, (kernel.name, metric)


def test_seed_elu_full_size():
    outcome = profile("elu")
    assert list(outcome.report.kernels) == ["elu_kernel"]
    assert_core_present(outcome)
    launch = outcome.report.kernels["elu_kernel"].launches[0]
    assert launch.number("dram__throughput.avg.pct_of_peak_sustained_elapsed") > 50  # a streaming kernel
    assert outcome.wall_s <= ELU_TARGET_S, f"profile took {outcome.wall_s:.1f} s"


def test_seed_mish_only_the_launched_kernel():
    outcome = profile("mish", stage="block_tiling")
    assert list(outcome.report.kernels) == ["fused_activation_kernel_optimized"]
    assert "defined but not launched: fused_activation_kernel" in outcome.notes
    assert_core_present(outcome)
    launch = outcome.report.kernels["fused_activation_kernel_optimized"].launches[0]
    assert launch.number("launch__grid_size") == 127008
    assert launch.number("launch__registers_per_thread") is not None


def test_several_kernels_exact_names_unlaunched_absent():
    outcome = profile("multi", launches=2, stage="memory_access")
    assert list(outcome.report.kernels) == ["scale_kernel", "relu_kernel"]
    assert [len(k.launches) for k in outcome.report.kernels.values()] == [2, 2]
    assert "defined but not launched: unused_kernel" in outcome.notes
    assert_core_present(outcome)
