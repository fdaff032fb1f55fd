"""The step recorder alone (pipeline/steps.py): rows written with their candidate and measurements, read back
on resume, SKIP rows, baselines kept in the state and the task's row; the task state's speedups and diffs."""

from __future__ import annotations

import pytest

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.pipeline.steps import StepRecorder, TaskState, diff_from
from tritonwright.store import AttemptRecord


def _timing(ms: float) -> TimingStats:
    return TimingStats(ms, ms, ms, ms, ms, 10, "fake")


@pytest.fixture()
def recorder(step_recorder: StepRecorder) -> StepRecorder:
    return step_recorder  # conftest.py: a fresh store with one started task


def test_speedups_need_a_median_and_a_baseline() -> None:
    state = TaskState(eager_ms=3.0)
    assert state.speedups(None) == (None, None)
    assert state.speedups(1.5) == (2.0, None)
    best = Candidate("x = 1\n")
    assert TaskState().best_id is None and TaskState(best=best).best_id == best.id


def test_diff_from_the_best() -> None:
    best = Candidate("a = 1\nb = 2\n")
    assert diff_from(None, best) is None and diff_from(best, Candidate(best.source)) is None
    diff = diff_from(best, Candidate("a = 1\nb = 3\n"))
    assert diff is not None and "--- best.py" in diff and "-b = 2" in diff and "+b = 3" in diff


def test_a_step_is_recorded_with_its_candidate_and_result(recorder: StepRecorder) -> None:
    recorder.state.eager_ms = 4.0
    cand = Candidate("x = 1\n", parent="p0")
    result = EvalResult(Status.OK, reason="fine", timing=_timing(2.0), wall_s=1.5)
    rec = recorder.record(AttemptRecord("seed", "seed", "user", Decision.BASE), cand, result)
    assert (rec.candidate_id, rec.parent_id, rec.status, rec.median_ms) == (cand.id, "p0", "OK", 2.0)
    assert (rec.speedup_eager, rec.speedup_compiled, rec.wall_s, rec.reason) == (2.0, None, 1.5, "fine")
    again = recorder.recorded("seed")
    assert again is not None and again[1] is not None and again[1].source == "x = 1\n"
    assert again[0].result is not None and again[0].result["status"] == "OK"
    assert recorder.recorded("final") is None


def test_skip_rows_and_a_step_recorded_twice(recorder: StepRecorder) -> None:
    recorder.skip("stage:a:skip", "a", "rules", "nothing to gain", {"k": {"m": 1.0}})
    found = recorder.recorded("stage:a:skip")
    assert found is not None and found[1] is None
    rec = found[0]
    assert rec.decision is Decision.SKIP and rec.decision_reason == "nothing to gain" and rec.metrics_before == {
        "k": {"m": 1.0}}
    kept = recorder.record(AttemptRecord("stage:a:skip", "a", "llm", Decision.KEEP), None, None)
    assert kept.decision is Decision.SKIP  # a recorded step is never redone


def test_a_tuner_step_is_recorded_with_its_configs(recorder: StepRecorder) -> None:
    row = {"kernel": "k", "label": "warps=8 stages=3", "config": {"num_warps": 8, "num_stages": 3},
           "phase": "coarse", "round": 1, "original": False, "screen_ms": 1.0, "verified": True,
           "verified_ms": 1.1, "status": "OK", "error": None, "chosen": True}
    rec = AttemptRecord("stage:a:tune", "a", "tuner", Decision.KEEP)
    recorder.record(rec, None, None, [row])
    recorder.record(rec, None, None, [row, row])  # recorded already: neither the step nor its rows again
    assert recorder.store.tuner_configs(recorder.run_id, "t", "stage:a:tune") == [row]


def test_baselines_go_to_the_state_and_the_task_row(recorder: StepRecorder) -> None:
    recorder.take_baselines(EvalResult(Status.OK))  # none measured: nothing written
    row = recorder.task_row()
    assert row is not None and row["baselines"] is None
    recorder.take_baselines(EvalResult(Status.OK, eager=_timing(3.0), compiled=_timing(2.0)))
    assert (recorder.state.eager_ms, recorder.state.compiled_ms) == (3.0, 2.0)
    row = recorder.task_row()
    assert row is not None and row["baselines"] == {"eager_ms": 3.0, "compiled_ms": 2.0, "compile_mode": "default"}
    recorder.update_task(wall_s=1.0)
    row = recorder.task_row()
    assert row is not None and row["wall_s"] == 1.0
