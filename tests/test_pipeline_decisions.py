"""The keep/revert decision (pipeline/verdict.py), which paths a stage takes (stage_plan.py) and the stop at
the floor (floor_stop.py), each alone with fakes (tests/fakes.py): no evaluation, no LLM."""

from __future__ import annotations

import pytest

from tests.fakes import FASTER, FakeClock, FakeComparer, FakeFloor, FakeTuner
from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.defaults import STAGES
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.pipeline.floor_stop import FloorGuard
from tritonwright.pipeline.stage_plan import launch_stage, plan_stage
from tritonwright.pipeline.steps import StepRecorder
from tritonwright.pipeline.verdict import NO_TIMING, KeepRevert, rank
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.search import ConfigResult, TuneReport


def _ok(ms: float | None) -> EvalResult:
    return EvalResult(Status.OK, timing=None if ms is None else TimingStats(ms, ms, ms, ms, ms, 10, "fake"))


# --- verdict ------------------------------------------------------------------------------------------------


def test_rank_puts_correct_before_failing_then_fastest() -> None:
    results = [EvalResult(Status.MISMATCH), _ok(2.0), _ok(1.0), _ok(None)]
    assert rank(results) == [2, 1, 3, 0]  # untimed correct answers come after timed ones, before failures


def test_an_ab_verdict_keeps_only_a_significant_gain() -> None:
    clock = FakeClock(tick=0.25)  # each reading 0.25 s later: the comparison "took" 0.25 s
    verdicts = KeepRevert(FakeComparer(), timed=True, threshold=0.02, clock=clock)
    kept = verdicts.compare(Candidate("a"), Candidate(f"b {FASTER}"))
    assert kept.decision is Decision.KEEP and "faster" in kept.reason and kept.seconds == 0.25
    assert verdicts.compare(Candidate("a"), Candidate("b")).decision is Decision.REVERT


@pytest.mark.parametrize("timed, comparer", [(False, FakeComparer()), (True, None)])
def test_no_ab_without_timing_or_a_comparer(timed: bool, comparer: FakeComparer | None) -> None:
    verdicts = KeepRevert(comparer, timed=timed, threshold=0.02)
    assert not verdicts.can_time
    v = verdicts.compare(Candidate("a"), Candidate(f"b {FASTER}"))
    assert (v.decision, v.reason, v.seconds) == (Decision.REVERT, NO_TIMING, 0.0)
    assert comparer is None or comparer.calls == 0


def test_the_tuners_report_maps_onto_the_runs_decisions() -> None:
    cand = Candidate("x = 1\n")
    kept = KeepRevert.tuned(FakeTuner(tuned_ms=1.5)(cand, "launch"))
    assert kept.decision is Decision.KEEP and kept.candidate is not None and kept.tuned_ms == 1.5
    assert kept.status is None  # no config results: nothing says a config passed
    passed = [ConfigResult("k", LaunchConfig(4, 3), True, "OK")]
    checked = KeepRevert.tuned(TuneReport("launch", Decision.CHECKED, "3 configs passed", cand, passed,
                                          tuned_ms=2.0))
    assert checked.decision is Decision.REVERT and checked.candidate is None and checked.tuned_ms is None
    assert checked.reason.startswith("timing needs a GPU: configs checked") and checked.status == "OK"
    assert checked.configs == (passed[0].row(),) and kept.configs == ()  # every config tried, for the store
    refused = KeepRevert.tuned(TuneReport("launch", Decision.REFUSED, "nothing to tune", cand))
    assert (refused.decision, refused.reason, refused.candidate) == (Decision.SKIP, "nothing to tune", None)


# --- stage plan ---------------------------------------------------------------------------------------------


def test_without_an_llm_the_tuner_searches_once_at_its_first_stage() -> None:
    assert launch_stage(STAGES, has_llm=False, has_tuner=True) == "block_tiling"
    assert launch_stage(STAGES, has_llm=True, has_tuner=True) is None
    assert launch_stage(("grid_and_parallel",), has_llm=False, has_tuner=True) is None
    first = plan_stage("block_tiling", STAGES, has_llm=False, has_tuner=True)
    assert first.uses_tuner and not first.tuned_elsewhere and first.tuner_stage == "launch" and first.paths == 1
    later = plan_stage("memory_access", STAGES, has_llm=False, has_tuner=True)
    assert later.tuned_elsewhere and later.skip_key == "stage:memory_access:skip"
    grid = plan_stage("grid_and_parallel", STAGES, has_llm=False, has_tuner=True)
    assert not grid.uses_llm and not grid.uses_tuner and grid.paths == 0


def test_with_an_llm_the_tuner_joins_advanced_memory_only() -> None:
    both = plan_stage("advanced_memory", STAGES, has_llm=True, has_tuner=True)
    assert both.paths == 2 and both.tuner_stage == "advanced_memory" and not both.tuned_elsewhere
    assert (both.llm_key, both.tune_key) == ("stage:advanced_memory:llm", "stage:advanced_memory:tune")
    assert not plan_stage("block_tiling", STAGES, has_llm=True, has_tuner=True).uses_tuner
    assert not plan_stage("advanced_memory", STAGES, has_llm=True, has_tuner=False).uses_tuner


# --- floor --------------------------------------------------------------------------------------------------


@pytest.fixture()
def steps(step_recorder: StepRecorder) -> StepRecorder:
    return step_recorder  # conftest.py: a fresh store with one started task


def test_the_floor_is_measured_once_and_read_back(steps: StepRecorder) -> None:
    said: list[str] = []
    probe = FakeFloor(3.0)
    guard = FloorGuard(probe, steps, timed=True, floor_stop=0.05, say=said.append)
    assert guard.measure() == 2.0 and probe.calls == 1  # the fake's 2 s of device time
    assert said == ["floor", "floor 3 ms (memory bound)"]
    row = steps.task_row()
    assert row is not None and row["floor"]["threshold"] == 0.05
    again = FloorGuard(probe, steps, timed=True, floor_stop=0.05, say=said.append)
    assert again.measure() == 0.0 and probe.calls == 1 and again.info == guard.info  # a resumed run reads it
    assert FloorGuard(None, steps, True, 0.05, said.append).measure() == 0.0


def test_the_floor_the_seeds_evaluation_brought_is_used_without_the_probe(steps: StepRecorder) -> None:
    said: list[str] = []
    probe = FakeFloor(9.0)
    brought = FakeFloor(3.0).floor().to_dict()
    guard = FloorGuard(probe, steps, timed=True, floor_stop=0.05, say=said.append)
    assert guard.measure(EvalResult(status=Status.OK, floor=brought)) == 0.0  # its time is the evaluation's
    assert probe.calls == 0 and said == ["floor 3 ms (memory bound)"]
    row = steps.task_row()
    assert row is not None and row["floor"]["floor"]["ms"] == 3.0


def test_an_unavailable_floor_from_the_evaluation_falls_back_to_the_probe(steps: StepRecorder) -> None:
    said: list[str] = []
    probe = FakeFloor(3.0)
    seed = EvalResult(status=Status.OK, floor={"available": False, "reason": "traced on meta: .item() in forward"})
    guard = FloorGuard(probe, steps, timed=True, floor_stop=0.05, say=said.append)
    assert guard.measure(seed) == 2.0 and probe.calls == 1
    assert said[0] == "floor (none came with the evaluation: traced on meta: .item() in forward)"
    assert guard.info is not None and guard.info.floor is not None and guard.info.floor.ms == 3.0


def test_no_floor_and_a_cpu_run_stop_nothing(steps: StepRecorder) -> None:
    said: list[str] = []
    guard = FloorGuard(FakeFloor(None), steps, timed=False, floor_stop=0.05, say=said.append)
    assert guard.measure() == 0.0 and said[-1] == "no floor: fake: nothing measured"
    steps.state.best_ms = 1.0
    assert guard.why_at_floor() is None and not guard.stop("block_tiling", ["k"])


def test_at_the_floor_each_path_gets_a_skip_row(steps: StepRecorder) -> None:
    said: list[str] = []
    guard = FloorGuard(FakeFloor(3.0), steps, timed=True, floor_stop=0.05, say=said.append)
    guard.measure()
    steps.state.best_ms = 3.5
    assert guard.why_at_floor() is None and not guard.stop("memory_access", ["stage:memory_access:skip"])
    steps.state.best_ms = 3.06
    assert guard.stop("memory_access", ["stage:memory_access:llm", "stage:memory_access:tune"])
    for key in ("stage:memory_access:llm", "stage:memory_access:tune"):
        found = steps.recorded(key)
        assert found is not None and found[0].decision is Decision.SKIP and found[0].origin == "floor"
        assert found[0].decision_reason.startswith("at the floor: 3.06 ms vs floor 3 ms (1.02x, memory bound")
    assert said[-1].startswith("memory_access: skipped, at the floor")
    # any median (the race asks about torch.compile's code, not the best); none: nothing to say
    assert guard.why_at(3.04) is not None and guard.why_at(3.5) is None and guard.why_at(None) is None


def test_a_best_clearly_below_the_floor_stops_nothing_and_says_why_once(steps: StepRecorder) -> None:
    """An fp16-cast fp32 matmul ran at 0.18x of a floor charging fp32 FLOPs: no floor stop on a wrong floor."""
    said: list[str] = []
    guard = FloorGuard(FakeFloor(3.0), steps, timed=True, floor_stop=0.05, say=said.append)
    guard.measure()
    steps.state.best_ms = 0.6
    assert guard.why_at_floor() is None and not guard.stop("grid_and_parallel", ["k1"])
    assert not guard.stop("block_tiling", ["k2"])
    notes = [s for s in said if "the floor's model does not hold" in s]
    assert len(notes) == 1 and "0.20x of the floor" in notes[0]
