"""The race against torch.compile (pipeline/race.py): a timed run whose best stays slower than torch.compile
makes torch.compile's own code, checks it, A/B-times it at threshold 0 and keeps it only when faster; then the
tuner gets its turn on it. Fakes only (tests/fakes.py): no GPU, no compile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FASTER, FakeComparer, FakeEvaluator, FakeFloor, FakeProfiler, FakeRival, FakeTuner
from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import OptimizeConfig, TaskOptimizer
from tritonwright.pipeline.race import RACE_KEY, RACE_THRESHOLD, RACE_TUNE_BUDGET_S, RACE_TUNE_KEY, why_race
from tritonwright.store import RunStore

SEED = "class ModelNew:  # seed\n    pass\n"
RIVAL = f"class ModelNew:  # inductor {FASTER}\n    pass\n"  # FakeComparer: the rival wins its A/B


def _stats(ms: float) -> TimingStats:
    return TimingStats(ms, ms, ms, ms, ms, 100, "cuda_events")


def _answer(seed_ms: float, compiled_ms: float, rival_ms: float = 3.0, rival_ok: bool = True) -> Any:
    """Every evaluation: the seed at `seed_ms` with torch.compile at `compiled_ms`; torch.compile's code (its
    source says "inductor") at `rival_ms`, or a mismatch when not `rival_ok`."""

    def answer(c: Candidate) -> EvalResult:
        if "inductor" in c.source:
            if not rival_ok:
                return EvalResult(Status.MISMATCH, reason="max abs error 3.1 at [0, 7]", wall_s=1.0)
            return EvalResult(Status.OK, timing=_stats(rival_ms), wall_s=1.0)
        return EvalResult(Status.OK, timing=_stats(seed_ms), eager=_stats(9.0), compiled=_stats(compiled_ms),
                          wall_s=1.0)

    return answer


def _run(tmp_path: Path, *, seed_ms: float = 3.1, compiled_ms: float = 3.03, rival: FakeRival | None = None,
         tuner: FakeTuner | None = None, timed: bool = True, race: bool = True, start: str = SEED,
         floor_ms: float | None = None, store: RunStore | None = None, run_id: str | None = None,
         evaluator: FakeEvaluator | None = None, **answer: Any) -> tuple[RunStore, str, FakeComparer, TaskOptimizer]:
    store = store or RunStore(tmp_path / "runs")
    if run_id is None:
        run_id = store.create_run("optimize", {})
        store.start_task(run_id, "t", "task.py", "h", 1, "single")
    comparer = FakeComparer()
    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=OptimizeConfig(timed=timed, race=race),
                        evaluator=evaluator or FakeEvaluator(_answer(seed_ms, compiled_ms, **answer)),
                        comparer=comparer if timed else None, profiler=FakeProfiler(), llm=None,
                        gpu=get_gpu("H100 SXM"), kind="single", tuner=tuner or FakeTuner(),
                        floor=FakeFloor(floor_ms), rival=rival)
    assert opt.run(Candidate(source=start, origin="inductor" if "inductor" in start else "user")).status == "done"
    return store, run_id, comparer, opt


def _steps(store: RunStore, run_id: str, key: str = "t") -> dict[str, Any]:
    return {a.step_key: a for a in store.attempts(run_id, key)}


def test_why_race_only_when_measured_slower_than_torch_compile() -> None:
    why = why_race(3.1, 3.03, "user")
    assert why is not None and why.startswith("the best runs at 0.98x torch.compile (3.1 ms vs 3.03 ms)")
    assert why_race(3.0, 3.03, "user") is None  # already at least as fast
    assert why_race(3.03, 3.03, "user") is None
    assert why_race(3.1, 3.03, "inductor") is None  # the run started from torch.compile's code
    assert why_race(None, 3.03, "user") is None and why_race(3.1, None, "user") is None


def test_a_slower_best_races_torch_compiles_code_and_keeps_it_when_faster(tmp_path: Path) -> None:
    rival, tuner = FakeRival(RIVAL), FakeTuner(tuned_ms=3.05)  # a tuned seed still behind torch.compile's 3.03
    store, run_id, comparer, _ = _run(tmp_path, rival=rival, tuner=tuner)
    steps = _steps(store, run_id)
    race = steps[RACE_KEY]
    assert rival.calls == 1 and race.decision == "KEEP" and race.origin == "inductor" and race.stage == "race"
    assert "0.99x torch.compile (3.05 ms vs 3.03 ms)" in race.decision_reason and "10.0% faster" in race.decision_reason
    assert comparer.thresholds[-1] == RACE_THRESHOLD == 0.0  # faster beyond the noise band is enough
    assert race.median_ms == 3.0 and race.speedup_compiled == pytest.approx(3.03 / 3.0)
    # the tuner searched the seed's launches, then torch.compile's code once it had won
    assert tuner.stages == ["launch", "launch"] and steps[RACE_TUNE_KEY].decision == "KEEP"
    assert tuner.originals == [3.1, 3.0]  # the best's median each time: the tuner need not evaluate it again
    assert tuner.budgets == [None, RACE_TUNE_BUDGET_S]  # the run's second pass is bounded
    best = store.task(run_id, "t")["best"]
    assert best["median_ms"] == 3.0  # the final check's timing (the fake times every rival evaluation at 3.0)
    src = store.load_candidate(run_id, "t", best["candidate_id"])
    assert "inductor" in src and src.endswith("# tuned\n")


def test_the_best_stays_when_torch_compiles_code_is_not_measurably_faster(tmp_path: Path) -> None:
    rival = FakeRival("class ModelNew:  # inductor, no marker\n    pass\n")
    tuner = FakeTuner()
    store, run_id, _, _ = _run(tmp_path, rival=rival, tuner=tuner)
    race = _steps(store, run_id)[RACE_KEY]
    assert race.decision == "REVERT" and "not measurably faster (slower by 4.0%" in race.decision_reason
    assert RACE_TUNE_KEY not in _steps(store, run_id) and tuner.stages == ["launch"]
    src = store.load_candidate(run_id, "t", store.task(run_id, "t")["best"]["candidate_id"])
    assert "# seed" in src


def test_code_that_cannot_be_made_or_fails_its_check_is_a_failed_row(tmp_path: Path) -> None:
    store, run_id, _, _ = _run(tmp_path / "a", rival=FakeRival(None))
    race = _steps(store, run_id)[RACE_KEY]
    assert race.decision == "FAILED" and race.candidate_id is None
    assert race.decision_reason.endswith("could not be made: fake: no Triton codegen here")
    store, run_id, _, _ = _run(tmp_path / "b", rival=FakeRival(RIVAL), rival_ok=False)
    race = _steps(store, run_id)[RACE_KEY]
    assert race.decision == "FAILED" and race.status == "MISMATCH" and "fails its check" in race.decision_reason
    assert "# seed" in store.load_candidate(run_id, "t", store.task(run_id, "t")["best"]["candidate_id"])


@pytest.mark.parametrize("case", ["as fast", "cpu", "off", "from inductor"])
def test_no_race_when_not_behind_untimed_turned_off_or_started_from_torch_compile(tmp_path: Path, case: str) -> None:
    rival = FakeRival(RIVAL)
    kwargs: dict[str, Any] = {"as fast": {"seed_ms": 3.0}, "cpu": {"timed": False}, "off": {"race": False},
                              "from inductor": {"start": "class ModelNew:  # inductor start\n    pass\n"}}[case]
    store, run_id, _, _ = _run(tmp_path, rival=rival, **kwargs)
    assert rival.calls == 0 and RACE_KEY not in _steps(store, run_id)


def test_at_the_floor_torch_compiles_code_races_but_is_not_tuned(tmp_path: Path) -> None:
    """ELU on an H200: the seed at 1.06x the floor, torch.compile faster still; the race runs (it is measured
    slower), and the tuner is not run on the winner, which is at the floor."""
    tuner = FakeTuner()
    store, run_id, _, _ = _run(tmp_path, seed_ms=3.18, compiled_ms=3.03, floor_ms=3.0, rival=FakeRival(RIVAL),
                               tuner=tuner)
    steps = _steps(store, run_id)
    assert steps[RACE_KEY].decision == "KEEP" and steps[RACE_TUNE_KEY].decision == "SKIP"
    assert steps[RACE_TUNE_KEY].origin == "floor" and tuner.stages == ["launch"]


def test_a_resumed_run_replays_the_race_without_making_or_timing_again(tmp_path: Path) -> None:
    store, run_id, _, _ = _run(tmp_path, rival=FakeRival(RIVAL), tuner=FakeTuner(tuned_ms=3.05))
    before = store.task(run_id, "t")["best"]["candidate_id"]
    rival, tuner = FakeRival(RIVAL), FakeTuner(tuned_ms=2.5)
    _run(tmp_path, rival=rival, tuner=tuner, store=store, run_id=run_id, evaluator=FakeEvaluator())
    assert rival.calls == 0 and tuner.stages == []  # nothing made, tuned or evaluated again
    assert store.task(run_id, "t")["best"]["candidate_id"] == before


def test_the_task_report_shows_the_race_and_where_the_best_came_from(tmp_path: Path) -> None:
    from tritonwright.pipeline.runner import write_reports

    store, run_id, _, _ = _run(tmp_path, rival=FakeRival(RIVAL), tuner=FakeTuner(tuned_ms=3.05))
    files = write_reports(store, run_id, "t", tmp_path / "report")
    md = next(f for f in files if f.suffix == ".md").read_text()
    assert "race" in md and "torch.compile's generated Triton code is faster" in md


@pytest.mark.gpu
def test_the_elu_example_races_torch_compiles_code_on_the_gpu(tmp_path: Path) -> None:
    """GPU, KernelBench size, seed and final check only (no stages): when the seed ELU (which syncs the host
    on every call) measures slower than torch.compile, torch.compile's code is made, passes its check at this
    size, and the A/B decides; the final check passes either way."""
    import dataclasses

    from tritonwright.eval.types import EvalConfig
    from tritonwright.pipeline.runner import RunSettings, Session, start_candidate, task_entry

    examples = Path(__file__).parent.parent / "examples"
    store = RunStore(tmp_path / "runs")
    settings = RunSettings(device="cuda", eval=dataclasses.replace(EvalConfig(), cache_dir=str(tmp_path / "cache")),
                           optimize=OptimizeConfig(stages=()))
    run_id = store.create_run("optimize", settings.to_dict())
    entry = task_entry(examples / "elu" / "task.py")
    outcome = Session(store, run_id, settings, None).run_task(
        entry, start_candidate(entry, examples / "elu" / "candidate.py"))
    assert outcome.status == "done", outcome.error
    steps, task = _steps(store, run_id, entry.key), store.task(run_id, entry.key)
    seed_ms, compiled_ms = steps["seed"].median_ms, task["baselines"]["compiled_ms"]
    print(f"seed {seed_ms:.4f} ms, torch.compile {compiled_ms:.4f} ms, best {task['best']['median_ms']:.4f} ms")
    if seed_ms <= compiled_ms:
        assert RACE_KEY not in steps
        return
    race = steps[RACE_KEY]
    print(race.decision, race.decision_reason)
    assert race.status == "OK" and race.decision in ("KEEP", "REVERT"), race.decision_reason
    assert (tmp_path / "runs" / run_id / entry.key / "race" / "inductor_seed.py").is_file()  # kept for the user
    src = store.load_candidate(run_id, entry.key, task["best"]["candidate_id"])
    assert (race.decision == "KEEP") == ("elu_kernel[grid]" not in src)  # the seed's launch: gone when it lost
