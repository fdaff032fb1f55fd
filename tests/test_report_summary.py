"""batch_summary and its parts: numbers worked out by hand from tests/test_report_bundles.py."""

from __future__ import annotations

import copy
import math

import pytest

from tests.test_report_bundles import attempt, batch_bundle, run, small_task
from tritonwright.report import ReportInputError, batch_summary, fast_p, geomean
from tritonwright.report.summary import Outcome, task_stage_gains

N = 7  # tasks in batch_bundle, the denominator of every fast_p


def test_fast_p_counts_correct_tasks_strictly_above_p_over_all_tasks() -> None:
    s = batch_summary(batch_bundle())
    # vs eager, correct and timed: 2.0, 1/1.1, 2.5, 1.2 (exactly 1.2 is not > 1.2; exactly 2.0 is not > 2)
    assert s["fast_p"]["eager"] == pytest.approx({"0": 4 / N, "1": 3 / N, "1.2": 2 / N, "2": 1 / N})
    # vs torch.compile: 1.6, 1/1.1, 1.25; 6_F is correct but its torch.compile baseline failed: not fast
    assert s["fast_p"]["compiled"] == pytest.approx({"0": 3 / N, "1": 2 / N, "1.2": 2 / N, "2": 0.0})


def test_correct_share_excludes_failed_running_and_done_without_best() -> None:
    s = batch_summary(batch_bundle())
    assert (s["tasks"], s["correct"]) == (N, 4)
    assert s["correct_share"] == pytest.approx(4 / N)
    assert s["status"] == {"done": 5, "failed": 1, "running": 1}
    correct = {t["key"]: t["correct"] for t in s["per_task"]}
    assert correct == {"1_A": True, "2_B": True, "3_C": True, "4_D": False, "5_E": False, "6_F": True,
                       "7_G": False}


def test_geomean_and_median_over_correct_timed_tasks() -> None:
    s = batch_summary(batch_bundle())
    eager = s["speedup"]["eager"]
    assert eager["n"] == 4
    assert eager["geomean"] == pytest.approx((2.0 * (1 / 1.1) * 2.5 * 1.2) ** 0.25)
    assert eager["median"] == pytest.approx((1.2 + 2.0) / 2)
    assert (eager["min"], eager["max"]) == pytest.approx((1 / 1.1, 2.5))
    compiled = s["speedup"]["compiled"]
    assert compiled["n"] == 3
    assert compiled["geomean"] == pytest.approx((1.6 * (1 / 1.1) * 1.25) ** (1 / 3))
    assert compiled["median"] == pytest.approx(1.25)


def test_by_level_groups_with_unknown_last() -> None:
    levels = batch_summary(batch_bundle())["by_level"]
    assert list(levels) == ["1", "2", "3", "unknown"]
    assert [levels[lv]["tasks"] for lv in levels] == [2, 2, 2, 1]
    assert levels["1"]["fast_p"]["eager"] == pytest.approx({"0": 1.0, "1": 0.5, "1.2": 0.5, "2": 0.0})
    assert levels["2"]["speedup"]["eager"]["geomean"] == pytest.approx(2.5)
    assert levels["3"]["fast_p"]["eager"]["1"] == pytest.approx(0.5)
    assert levels["3"]["fast_p"]["eager"]["1.2"] == 0.0
    # level 3's only correct task has no torch.compile timing: unknown, not 0%
    assert levels["3"]["fast_p"]["compiled"]["0"] is None
    assert levels["3"]["speedup"]["compiled"]["geomean"] is None
    # no correct task at all: fast_p is a measured 0, the averages are absent
    assert levels["unknown"]["fast_p"]["eager"]["0"] == 0.0
    assert levels["unknown"]["speedup"]["eager"]["median"] is None


def test_usage_and_time_sum_known_values_and_count_unknown_ones() -> None:
    s = batch_summary(batch_bundle())
    assert s["usage"] == {"input_tokens": 3300, "output_tokens": 1300, "calls": 9,
                          "cost_usd": pytest.approx(0.17), "cost_unknown_tasks": 1}
    assert s["time"] == {"gpu_s": pytest.approx(21.0), "gpu_unknown_tasks": 2,
                         "wall_s": pytest.approx(290.0), "wall_unknown_tasks": 1}


def test_stage_gains_multiply_kept_steps_and_count_decisions() -> None:
    stages = batch_summary(batch_bundle())["stages"]
    assert list(stages) == ["seed", "grid_and_parallel", "block_tiling", "memory_access"]
    grid = stages["grid_and_parallel"]
    assert grid["decisions"]["KEEP"] == 2 and grid["decisions"]["REVERT"] == 1
    # 1_A 0.8 -> 0.5 ms (1.6x), 2_B nothing kept (1.0x), 3_C 1.0 -> 0.8 ms (1.25x)
    assert grid["gain_geomean"] == pytest.approx((1.6 * 1.0 * 1.25) ** (1 / 3))
    assert grid["tasks_timed"] == 3
    assert stages["block_tiling"]["gain_geomean"] == pytest.approx(1.0)
    assert stages["memory_access"]["decisions"]["SKIP"] == 1
    assert stages["memory_access"]["gain_geomean"] is None  # skipped everywhere: never ran
    assert stages["seed"]["gain_geomean"] is None  # nothing was timed before the seed


def test_stage_gain_of_several_kept_steps_in_one_stage_compounds() -> None:
    task = small_task("t", 1, "done", eager=1.0, compiled=1.0, best_ms=0.5, attempts=[
        attempt(1, "seed", "BASE", median_ms=1.0),
        attempt(2, "tune", "KEEP", median_ms=0.8),
        attempt(3, "tune", "REVERT", median_ms=0.9),
        attempt(4, "tune", "KEEP", median_ms=0.5),
    ])
    assert task_stage_gains(task) == pytest.approx({"tune": 2.0})


def test_cpu_run_without_timings_gives_no_speed_figures() -> None:
    bundle = run("batch", [small_task("cpu", 1, "done", eager=None, compiled=None, best_ms=None)])
    bundle["tasks"][0]["best"] = {"candidate_id": "c", "median_ms": None, "speedup_eager": None,
                                  "speedup_compiled": None, "source": "x = 1\n"}
    s = batch_summary(bundle)
    assert s["correct_share"] == 1.0
    assert s["fast_p"]["eager"] == {"0": None, "1": None, "1.2": None, "2": None}
    assert s["speedup"]["eager"]["geomean"] is None


def test_empty_batch() -> None:
    s = batch_summary(run("batch", []))
    assert s["tasks"] == 0 and s["correct_share"] is None
    assert s["fast_p"]["eager"]["1"] is None and s["by_level"] == {}
    assert s["usage"]["cost_usd"] == 0.0


def test_speedup_computed_from_times_when_the_bundle_omits_it() -> None:
    bundle = batch_bundle()
    bundle["tasks"][0]["best"]["speedup_eager"] = None  # 1_A: 1.0 ms eager / 0.5 ms best
    assert batch_summary(bundle)["per_task"][0]["speedup"]["eager"] == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [math.inf, -1.0, 0.0, math.nan, "1.5"])
def test_figures_that_break_the_schema_are_refused(bad: object) -> None:
    bundle = copy.deepcopy(batch_bundle())
    bundle["tasks"][0]["best"]["speedup_eager"] = bad
    with pytest.raises(ReportInputError, match="1_A"):
        batch_summary(bundle)


def test_fast_p_and_geomean_helpers() -> None:
    def o(correct: bool, s: float | None) -> Outcome:
        return Outcome("k", "1", "done", correct, {"eager": s, "compiled": s})

    outcomes = [o(True, 3.0), o(True, 1.0), o(False, None), o(True, 0.5)]
    assert fast_p(outcomes, 1.0, "eager") == 0.25  # 1.0 itself is not faster than 1.0
    assert fast_p(outcomes, 0.0, "eager") == 0.75
    assert fast_p([], 1.0, "eager") is None
    assert geomean([2.0, 0.5]) == pytest.approx(1.0)
    assert geomean([4.0, 1.0]) == pytest.approx(2.0)
    assert geomean([]) is None
