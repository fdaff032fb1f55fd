"""The race against torch.compile (pipeline/race.py): a timed run whose best is not clearly ahead of
torch.compile makes torch.compile's own code, checks it, tunes it (45 s budget, not at the floor) and A/B-times
it against the best at threshold 0; it takes over only when faster. Fakes (tests/fakes.py), and one GPU test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import FASTER, FakeComparer, FakeEvaluator, FakeFloor, FakeProfiler, FakeRival, FakeTuner
from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalResult, KernelShare, Status, TimingStats
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import OptimizeConfig, TaskOptimizer
from tritonwright.pipeline.race import (
    RACE_CHECK_KEY,
    RACE_KEY,
    RACE_THRESHOLD,
    RACE_TUNE_BUDGET_S,
    RACE_TUNE_KEY,
    why_race,
)
from tritonwright.store import RunStore

SEED = "class ModelNew:  # seed\n    pass\n"
RIVAL = f"class ModelNew:  # inductor {FASTER}\n    pass\n"  # FakeComparer: the rival wins its A/B


def _stats(ms: float) -> TimingStats:
    return TimingStats(ms, ms, ms, ms, ms, 100, "cuda_events")


SEED_KERNELS = KernelShare(triton_time_ms=3.0, other_time_ms=0.1, triton_kernel_ms={"seed_kernel": 3.0})
RIVAL_KERNELS = KernelShare(triton_time_ms=2.9, other_time_ms=0.1, triton_kernel_ms={"triton_poi_0": 2.9})


def _answer(seed_ms: float, compiled_ms: float, rival_ms: float = 3.0, rival_ok: bool = True) -> Any:
    """Every evaluation: the seed at `seed_ms` with torch.compile at `compiled_ms`; torch.compile's code (its
    source says "inductor") at `rival_ms`, or a mismatch when not `rival_ok`."""

    def answer(c: Candidate) -> EvalResult:
        if "inductor" in c.source:
            if not rival_ok:
                return EvalResult(Status.MISMATCH, reason="max abs error 3.1 at [0, 7]", wall_s=1.0)
            return EvalResult(Status.OK, timing=_stats(rival_ms), wall_s=1.0, kernels=RIVAL_KERNELS)
        return EvalResult(Status.OK, timing=_stats(seed_ms), eager=_stats(9.0), compiled=_stats(compiled_ms),
                          wall_s=1.0, kernels=SEED_KERNELS)

    return answer


def _run(tmp_path: Path, *, seed_ms: float = 3.1, compiled_ms: float = 3.03, rival: FakeRival | None = None,
         tuner: FakeTuner | None = None, timed: bool = True, race: bool = True, start: str = SEED,
         floor_ms: float | None = None, store: RunStore | None = None, run_id: str | None = None,
         evaluator: FakeEvaluator | None = None, comparer: FakeComparer | None = None,
         **answer: Any) -> tuple[RunStore, str, FakeComparer, TaskOptimizer]:
    store = store or RunStore(tmp_path / "runs")
    if run_id is None:
        run_id = store.create_run("optimize", {})
        store.start_task(run_id, "t", "task.py", "h", 1, "single")
    comparer = comparer or FakeComparer()
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


def test_why_race_when_slower_than_torch_compile_or_less_than_the_margin_ahead() -> None:
    why = why_race(3.1, 3.03, "user")
    assert why == "the best runs at 0.98x torch.compile (3.1 ms vs 3.03 ms)"
    tie = why_race(3.0, 3.03, "user")  # 1 % ahead: a tie within the keep threshold
    assert tie == "the best runs at 1.01x torch.compile (3 ms vs 3.03 ms, less than 2% ahead)"
    assert why_race(2.9, 3.03, "user") is None  # 4.5 % ahead: clear
    assert why_race(3.1, 3.03, "inductor") is None  # the run started from torch.compile's code
    assert why_race(None, 3.03, "user") is None and why_race(3.1, None, "user") is None


def test_torch_compiles_code_is_checked_tuned_and_kept_when_faster(tmp_path: Path) -> None:
    rival, tuner = FakeRival(RIVAL), FakeTuner(tuned_ms=3.05)  # a tuned seed still behind torch.compile's 3.03
    store, run_id, comparer, _ = _run(tmp_path, rival=rival, tuner=tuner)
    steps = _steps(store, run_id)
    order = [k for k in steps if k.startswith("race")]
    assert order == [RACE_CHECK_KEY, RACE_TUNE_KEY, RACE_KEY]  # made and checked, tuned, then A/B
    check, tuned, race = steps[RACE_CHECK_KEY], steps[RACE_TUNE_KEY], steps[RACE_KEY]
    assert rival.calls == 1 and check.decision == "BASE" and check.median_ms == 3.0 and check.origin == "inductor"
    assert tuned.decision == "KEEP" and tuned.stage == "race" and tuned.parent_id == check.candidate_id
    assert tuned.decision_reason == "faster [screen 2.0 s (timed 1.0 s, compiled ahead 0.0 s), A/B 1.5 s]"
    assert tuner.stages == ["launch", "launch"] and tuner.originals == [3.1, 3.0]  # medians known: not re-run
    assert tuner.budgets == [None, RACE_TUNE_BUDGET_S]  # the run's second pass is bounded
    assert tuner.abs == [True, False]  # the race's A/B against the best decides: the tuner runs none of its own
    assert tuner.kernels == [SEED_KERNELS, RIVAL_KERNELS]  # where each one's GPU time went, from its evaluation
    assert race.decision == "KEEP" and race.origin == "tune" and race.candidate_id == tuned.candidate_id
    assert race.wall_s is not None  # the A/B's seconds: the report's step column
    assert race.decision_reason.startswith("the best runs at 0.99x torch.compile (3.05 ms vs 3.03 ms); "
                                           "torch.compile's generated Triton code, tuned, is faster: 10.0% faster")
    assert comparer.thresholds[-1] == RACE_THRESHOLD == 0.0  # faster beyond the noise band is enough
    best = store.task(run_id, "t")["best"]
    src = store.load_candidate(run_id, "t", best["candidate_id"])
    assert "inductor" in src and src.endswith("# tuned\n") and best["median_ms"] == 3.0  # the final check's


def test_the_best_stays_when_torch_compiles_code_is_not_measurably_faster(tmp_path: Path) -> None:
    rival = FakeRival("class ModelNew:  # inductor, no marker\n    pass\n", externs=("extern_kernels.convolution",),
                      making_s=0.3)
    store, run_id, _, _ = _run(tmp_path, rival=rival, tuner=FakeTuner())
    steps = _steps(store, run_id)
    check = steps[RACE_CHECK_KEY]
    assert check.decision_reason.endswith(
        "passes its check (it keeps non-Triton calls: extern_kernels.convolution) [made 0.3 s, check 1.0 s]")
    assert check.wall_s is not None and 1.3 <= check.wall_s < 1.5  # the step: making the code and its check
    race = steps[RACE_KEY]
    assert steps[RACE_TUNE_KEY].decision == "REVERT" and race.origin == "inductor"  # tuned, in vain
    assert race.decision == "REVERT" and "not measurably faster (slower by 4.0%" in race.decision_reason
    assert "# seed" in store.load_candidate(run_id, "t", store.task(run_id, "t")["best"]["candidate_id"])


def test_code_that_cannot_be_made_or_fails_its_check_is_a_failed_row(tmp_path: Path) -> None:
    store, run_id, _, _ = _run(tmp_path / "a", rival=FakeRival(None))
    steps = _steps(store, run_id)
    assert RACE_TUNE_KEY not in steps and RACE_KEY not in steps
    check = steps[RACE_CHECK_KEY]
    assert check.decision == "FAILED" and check.candidate_id is None
    assert check.decision_reason.endswith("could not be made: fake: no Triton codegen here [made 0.0 s]")
    tuner = FakeTuner()
    store, run_id, _, _ = _run(tmp_path / "b", rival=FakeRival(RIVAL), rival_ok=False, tuner=tuner)
    check = _steps(store, run_id)[RACE_CHECK_KEY]
    assert check.decision == "FAILED" and check.status == "MISMATCH" and "fails its check" in check.decision_reason
    assert tuner.stages == ["launch"] and RACE_KEY not in _steps(store, run_id)
    assert "# seed" in store.load_candidate(run_id, "t", store.task(run_id, "t")["best"]["candidate_id"])


@pytest.mark.parametrize("case", ["clear lead", "cpu", "off", "from inductor"])
def test_no_race_when_clearly_ahead_untimed_turned_off_or_started_from_torch_compile(tmp_path: Path,
                                                                                      case: str) -> None:
    rival = FakeRival(RIVAL)
    kwargs: dict[str, Any] = {"clear lead": {"seed_ms": 2.9}, "cpu": {"timed": False}, "off": {"race": False},
                              "from inductor": {"start": "class ModelNew:  # inductor start\n    pass\n"}}[case]
    store, run_id, _, _ = _run(tmp_path, rival=rival, **kwargs)
    assert rival.calls == 0 and not [k for k in _steps(store, run_id) if k.startswith("race")]


def test_torch_compiles_code_at_the_floor_is_not_tuned(tmp_path: Path) -> None:
    """ELU on an H200: the seed at 1.06x the floor, torch.compile faster; its code races (at the floor: not
    tuned) and wins the A/B."""
    tuner = FakeTuner()
    store, run_id, _, _ = _run(tmp_path, seed_ms=3.18, compiled_ms=3.03, floor_ms=3.0, rival=FakeRival(RIVAL),
                               tuner=tuner)
    steps = _steps(store, run_id)
    assert steps[RACE_TUNE_KEY].decision == "SKIP" and steps[RACE_TUNE_KEY].origin == "floor"
    assert steps[RACE_KEY].decision == "KEEP" and tuner.stages == ["launch"]


@dataclass
class _BrokenComparer(FakeComparer):
    """The A/B timer dies (a killed run) on its first `fail` comparisons."""

    fail: int = 1

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Any:
        if self.fail:
            self.fail -= 1
            raise KeyboardInterrupt
        return super().compare(a, b, threshold)


def test_a_resumed_run_goes_on_from_the_race_row_it_reached(tmp_path: Path) -> None:
    """Killed during the race's A/B: the resumed run neither makes, checks nor tunes torch.compile's code again;
    a finished race is replayed whole."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    rival, tuner, evaluator = FakeRival(RIVAL), FakeTuner(tuned_ms=3.05), FakeEvaluator(_answer(3.1, 3.03))
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, rival=rival, tuner=tuner, store=store, run_id=run_id, evaluator=evaluator,
             comparer=_BrokenComparer())  # the fake stage tuner does its own A/B: the race's is the first
    assert [k for k in _steps(store, run_id) if k.startswith("race")] == [RACE_CHECK_KEY, RACE_TUNE_KEY]
    calls = evaluator.calls
    _run(tmp_path, rival=rival, tuner=tuner, store=store, run_id=run_id, evaluator=evaluator)
    assert rival.calls == 1 and tuner.stages == ["launch", "launch"] and evaluator.calls == calls + 1  # final
    assert _steps(store, run_id)[RACE_KEY].decision == "KEEP"
    before = store.task(run_id, "t")["best"]["candidate_id"]
    _run(tmp_path, rival=rival, tuner=tuner, store=store, run_id=run_id, evaluator=FakeEvaluator())
    assert rival.calls == 1 and tuner.stages == ["launch", "launch"]  # nothing made, tuned or evaluated again
    assert store.task(run_id, "t")["best"]["candidate_id"] == before


def test_the_task_report_shows_the_race_and_where_the_best_came_from(tmp_path: Path) -> None:
    from tritonwright.pipeline.runner import write_reports

    store, run_id, _, _ = _run(tmp_path, rival=FakeRival(RIVAL), tuner=FakeTuner(tuned_ms=3.05))
    files = write_reports(store, run_id, "t", tmp_path / "report")
    md = next(f for f in files if f.suffix == ".md").read_text()
    assert "torch.compile's generated Triton code passes its check" in md
    assert "torch.compile's generated Triton code, tuned, is faster" in md
    assert ": torch.compile's own code) |" in md  # the best's line in the result table
    html = next(f for f in files if f.suffix == ".html").read_text()
    assert ": torch.compile&#39;s own code" in html or ": torch.compile's own code" in html


@pytest.mark.gpu
def test_the_elu_example_races_torch_compiles_code_on_the_gpu(tmp_path: Path) -> None:
    """GPU, KernelBench size, seed and final check only (no stages): when the seed ELU (which syncs the host
    on every call) is not clearly ahead of torch.compile, torch.compile's code is made by a job, passes its
    check at this size, and the A/B decides (at the floor, it is not tuned); the final check passes either way."""
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
    if seed_ms * 1.02 <= compiled_ms:
        assert RACE_KEY not in steps
        return
    check, race = steps[RACE_CHECK_KEY], steps[RACE_KEY]
    print(race.decision, race.decision_reason)
    assert check.status == "OK" and check.decision == "BASE", check.decision_reason  # passes at this size
    assert race.decision in ("KEEP", "REVERT"), race.decision_reason
    assert (tmp_path / "runs" / run_id / entry.key / "race" / "inductor_seed.py").is_file()  # kept for the user
    src = store.load_candidate(run_id, entry.key, task["best"]["candidate_id"])
    assert (race.decision == "KEEP") == ("elu_kernel[grid]" not in src)  # the seed's launch: gone when it lost


def test_race_and_strict_are_run_settings_and_options_of_optimize_and_batch() -> None:
    from typer.testing import CliRunner

    from tritonwright.cli import app
    from tritonwright.pipeline.cli import _settings
    from tritonwright.pipeline.runner import RunSettings

    s = _settings("cpu", None, None, None, None, "compact", 1, 0.02, None, True, False, race=False, strict=True)
    assert s.optimize.race is False and s.eval.strict is True
    back = RunSettings.from_dict(s.to_dict())
    assert back.optimize.race is False and back.eval.strict is True
    old = s.to_dict()
    del old["optimize"]["race"]  # a run recorded before the race existed resumes with it on
    assert RunSettings.from_dict(old).optimize.race is True
    for command in ("optimize", "batch"):
        out = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}).output
        assert "--no-race" in out and "--strict" in out


def test_batch_figures_mark_a_best_that_is_torch_compiles_code(tmp_path: Path) -> None:
    """A best that won the race (or an Inductor seed) is torch.compile's own code: its speed-up over
    torch.compile measures tuning, and the batch report says which tasks end so; its tuner row alone (tuning
    torch.compile's code that then lost the A/B) does not count."""
    from tritonwright.report.batch import write_batch_report
    from tritonwright.report.summary import batch_summary, from_torch_compile

    won, run_id, _, _ = _run(tmp_path / "won", rival=FakeRival(RIVAL), tuner=FakeTuner(tuned_ms=3.05))
    won.finish_task(run_id, "t", "done")  # as Session.run_task does: only a finished task counts as correct
    bundle = won.bundle(run_id)
    summary = batch_summary(bundle)
    assert summary["from_compile"] == 1 and summary["per_task"][0]["from_compile"] is True
    md = next(f for f in write_batch_report(bundle, tmp_path / "report", with_tasks=False) if f.suffix == ".md")
    text = md.read_text()
    assert "(torch.compile's code)" in text and "1 of them end on torch.compile's own code" in text
    lost, lost_id, _, _ = _run(tmp_path / "lost", rival=FakeRival("class ModelNew:  # inductor\n    pass\n"),
                               tuner=FakeTuner(tuned_ms=3.05))
    lost.finish_task(lost_id, "t", "done")
    task = lost.bundle(lost_id)["tasks"][0]
    assert any(a["stage"] == "race" and a["decision"] == "KEEP" for a in task["attempts"])  # its tuner row
    assert not from_torch_compile(task) and batch_summary(lost.bundle(lost_id))["from_compile"] == 0
    seeded = {"attempts": [{"stage": "seed", "origin": "inductor", "decision": "BASE"}]}
    assert from_torch_compile(seeded)


def test_a_lost_job_loses_the_race_not_the_task() -> None:
    """The pool gave up on the job (its workers died on every try): the race gets a reason, the task goes on."""
    from tritonwright.executors.faults import JobLost
    from tritonwright.pipeline.seams import HarnessRival
    from tritonwright.task import Task

    class Lost:
        def call(self, job: Any) -> Any:
            raise JobLost(f"{job.label}: the worker died on 2 tries")

    outcome = HarnessRival(Task(path="t.py", name="t", source=""), "cuda", executor=Lost(), label="t").make()
    assert outcome.candidate is None
    assert outcome.reason == "the job was lost (t: torch.compile's code: the worker died on 2 tries)"


TUNED_SEED = KernelShare(triton_time_ms=2.5, other_time_ms=0.1, triton_kernel_ms={"seed_kernel": 2.5})
TUNED_RIVAL = KernelShare(triton_time_ms=2.4, other_time_ms=0.1, triton_kernel_ms={"triton_poi_0": 2.4})


def test_a_kept_tuned_code_hands_on_its_kernel_times(tmp_path: Path) -> None:
    """After a tuner KEEP the best's kernel times are the tuned code's (its full check), not unknown: a later
    tuner pass orders its kernels by them. The race's kept code brings its own."""
    tuner = FakeTuner(tuned_ms=2.5, tuned_kernels=[TUNED_SEED])
    *_, opt = _run(tmp_path / "a", tuner=tuner, race=False)
    assert opt.state.best_kernels is TUNED_SEED
    tuner = FakeTuner(tuned_ms=3.05, tuned_kernels=[TUNED_SEED, TUNED_RIVAL])
    *_, opt = _run(tmp_path / "b", rival=FakeRival(RIVAL), tuner=tuner)
    assert tuner.kernels == [SEED_KERNELS, RIVAL_KERNELS]
    assert opt.state.best_kernels is TUNED_RIVAL  # the race kept torch.compile's code as tuned
