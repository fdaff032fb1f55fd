"""The final check's figure against the one the best was kept at (pipeline/optimize.py, FINAL_AGREE): a final
timing that contradicts it is timed once more in a fresh session, and the middle of the three figures stands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import FakeEvaluator, FakeProfiler, FakeTuner
from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import FINAL_SEED_OFFSET, TaskOptimizer
from tritonwright.pipeline.optimize import OptimizeConfig as Cfg
from tritonwright.store import RunStore

SEED = "class ModelNew:  # seed\n    pass\n"


def _timed(ms: float) -> EvalResult:
    return EvalResult(Status.OK, timing=TimingStats(ms, ms, ms, ms, ms, 100, "cuda_events"), wall_s=1.0)


def _run(tmp_path: Path, results: list[EvalResult]) -> tuple[EvalResult | None, FakeEvaluator, list[str]]:
    """The seed at results[0]; the final check's evaluations take the next ones in turn (no tuner gain)."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    answers = iter(results)
    evaluator = FakeEvaluator(lambda c: next(answers))
    said: list[str] = []

    class Events:
        def step(self, task_key: str, text: str) -> None:
            said.append(text)

        def best(self, task_key: str, speedup: float | None) -> None:
            pass

    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=Cfg(timed=True, floor_stop=0.0, race=False), evaluator=evaluator, comparer=None,
                        profiler=FakeProfiler(), llm=None, gpu=get_gpu("H100 SXM"), kind="single",
                        tuner=FakeTuner(None, []), events=Events())
    outcome = opt.run(Candidate(source=SEED))
    return outcome.final, evaluator, said


def test_a_final_figure_that_agrees_is_taken_as_it_is(tmp_path: Path) -> None:
    final, evaluator, _ = _run(tmp_path, [_timed(1.0), _timed(1.08)])
    assert final is not None and final.timing is not None and final.timing.median_ms == 1.08
    assert evaluator.calls == 2 and not any("checked twice" in n for n in final.notes)


def test_a_contradicting_final_figure_is_timed_again_and_the_middle_stands(tmp_path: Path) -> None:
    final, evaluator, said = _run(tmp_path, [_timed(1.0), _timed(1.37), _timed(1.02)])
    assert evaluator.calls == 3 and evaluator.seeds[1:] == [42 + FINAL_SEED_OFFSET, 42 + FINAL_SEED_OFFSET + 1]
    assert final is not None and final.timing is not None and final.timing.median_ms == 1.02
    note = next(n for n in final.notes if "checked twice" in n)
    assert "1.37 ms, then 1.02 ms" in note and "1 ms when the best was kept" in note
    assert any("timing it again" in s for s in said)


def test_a_slow_final_figure_that_repeats_is_reported(tmp_path: Path) -> None:
    final, _, _ = _run(tmp_path, [_timed(1.0), _timed(1.37), _timed(1.35)])
    assert final is not None and final.timing is not None and final.timing.median_ms == pytest.approx(1.35)


def test_a_second_final_evaluation_that_fails_is_the_verdict(tmp_path: Path) -> None:
    failed = EvalResult(Status.MISMATCH, reason="trial 1: wrong")
    final, _, _ = _run(tmp_path, [_timed(1.0), _timed(1.37), failed])
    assert final is not None and final.status is Status.MISMATCH


def test_the_second_figure_keeps_the_baselines_the_first_evaluation_measured(tmp_path: Path) -> None:
    """A run whose seed brought no baselines measures them at the final check: shown with the second figure,
    they are still there."""
    seed = _timed(1.0)
    first = _timed(1.37)
    first.eager, first.compiled = _timed(2.0).timing, _timed(1.1).timing
    final, _, _ = _run(tmp_path, [seed, first, _timed(1.02)])
    assert final is not None and final.timing is not None and final.timing.median_ms == 1.02
    assert final.eager is not None and final.eager.median_ms == 2.0
    assert final.compiled is not None and final.compiled.median_ms == 1.1
