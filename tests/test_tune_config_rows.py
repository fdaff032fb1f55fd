"""Every launch config a tuner step tried, from the tuner's report to the run store and the reports: one row per
config (its label and dict, phase, screening time, full check, one-line error, the choice), stored with the
step in one transaction, read back by an older store once migrated, exported, and shown per tuner step."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests import fakes
from tests.test_store import SCHEMA_V1
from tests.test_tune_search import KERNEL, MISH, FakeComparer, FakeEvaluator, _key, table
from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult, Status, TimingStats
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import OptimizeConfig, TaskOptimizer
from tritonwright.report import write_task_report
from tritonwright.store import AttemptRecord, RunStore
from tritonwright.store.schema import ADDED_TABLES
from tritonwright.store.tuner_configs import FIELDS
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.search import ERROR_CHARS, TuneReport, TuneSettings, error_line, tune

OOR = "OutOfResources: out of resource: shared memory, Required: 262144, Hardware limit: 232448"
# A screening failure as eval.errtext.describe_exception writes it: frames, the exception line, a hint.
TRACE = (f'Traceback (candidate.py frames only):\n  File "candidate.py", line 30, in forward\n'
         f"    {KERNEL}[grid](x, y, n, num_warps=2)\n{OOR}\nhint: fewer stages or smaller tiles use less shared memory")
MISMATCH = "output 0: 12 elements out of tolerance"  # FakeEvaluator's reason for a `broken` config
TUNE_STEP = "stage:block_tiling:tune"  # the one tuner step of a run without an LLM


class CrashingScreen(FakeEvaluator):
    """test_tune_search's evaluator, whose screening also fails to compile the configs in `crash`."""

    def __init__(self, times: Any, broken: frozenset[Any] = frozenset(), crash: frozenset[Any] = frozenset()) -> None:
        super().__init__(times, broken)
        self.crash = crash

    def screen_many(self, candidates: list[Candidate], cutoff_ms: float | None = None) -> list[EvalResult]:
        results = super().screen_many(candidates, cutoff_ms)
        return [EvalResult(Status.COMPILE_ERROR, reason=TRACE) if _key(self.configs(c.source)[0]) in self.crash
                else r for c, r in zip(candidates, results, strict=True)]


def _tuned() -> TuneReport:
    """8 warps wins; 16 warps screens fastest but computes the wrong thing; 2 warps does not compile."""
    t = table((8, 3), 0.06)
    t[(16, 3)] = 0.300
    ev = CrashingScreen(t, broken=frozenset({(16, 3)}), crash=frozenset({(2, 3)}))
    return tune(Candidate(MISH), ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True))


def _by_label(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["label"]: r for r in rows}


def test_the_report_has_one_row_per_config_tried_with_its_check_error_and_choice() -> None:
    report = _tuned()
    assert report.decision is Decision.KEEP, report.reason
    rows = report.rows()
    assert len(rows) == len(report.results) >= 5 and all(set(r) == set(FIELDS) for r in rows)
    json.dumps(rows, allow_nan=False)  # plain, strict JSON: what the store and the bundle hold
    by = _by_label(rows)
    won = by[LaunchConfig(8, 3).label]
    assert won["chosen"] and won["verified"] and won["status"] == "OK" and won["error"] is None
    assert won["config"] == {"num_warps": 8, "num_stages": 3} and won["verified_ms"] == pytest.approx(0.359 / 1.06)
    assert [r["label"] for r in rows if r["chosen"]] == [won["label"]]  # one pick per kernel
    wrong = by[LaunchConfig(16, 3).label]  # fastest screened, failed its full check
    assert (wrong["verified"], wrong["status"], wrong["error"], wrong["chosen"]) == (True, "MISMATCH", MISMATCH, False)
    assert wrong["screen_ms"] == pytest.approx(0.300) and wrong["verified_ms"] is None
    broken = by[LaunchConfig(2, 3).label]  # failed at screening: never timed, never checked in full
    assert (broken["verified"], broken["status"], broken["screen_ms"]) == (False, "COMPILE_ERROR", None)
    assert broken["error"] == OOR  # the exception line, not the traceback or the hint
    original = by[LaunchConfig(4, 3).label]
    assert original["original"] and original["phase"] == "coarse" and original["round"] == 1
    assert {r["phase"] for r in rows} >= {"coarse", "refine"}
    screened_only = [r for r in rows if not r["verified"] and r["status"] == "OK"]
    assert screened_only and all(r["verified_ms"] is None and r["screen_ms"] for r in screened_only)


def test_a_dry_run_checks_every_row_and_chooses_none() -> None:
    ev = FakeEvaluator(table((8, 3), 0.06), broken=frozenset({(16, 3)}))
    rows = tune(Candidate(MISH), ev, None, TuneSettings(dry_run=True)).rows()
    assert rows and all(r["phase"] == "dry-run" and r["verified"] and r["screen_ms"] is None for r in rows)
    assert not any(r["chosen"] for r in rows)
    assert _by_label(rows)[LaunchConfig(16, 3).label]["error"] == MISMATCH


def test_error_line_names_the_failure_on_one_line() -> None:
    assert error_line("") == "" and error_line(MISMATCH) == MISMATCH
    assert error_line(TRACE) == OOR
    assert error_line("killed after 120 s\nstderr tail: ...") == "killed after 120 s"
    compile_only = "CompilationError: at 3:8:\n    x = tl.load(p)\n        ^\nunsupported tensor index\n" \
                   "CompilationError (see the message above)"
    assert error_line(compile_only) == "CompilationError: unsupported tensor index"
    long = error_line("x" * 1000)
    assert len(long) == ERROR_CHARS and long.endswith("…")


def _tuner_step() -> AttemptRecord:
    return AttemptRecord(TUNE_STEP, "block_tiling", "tuner", Decision.KEEP, decision_reason="kept")


def test_rows_round_trip_the_store_with_their_step(tmp_path: Path) -> None:
    rows = _tuned().rows()
    store = RunStore(tmp_path)
    run = store.create_run("optimize", {})
    store.start_task(run, "t", "t.py", "h", 1, "single")
    store.record_attempt(run, "t", AttemptRecord("seed", "seed", "user", Decision.BASE))
    store.record_attempt(run, "t", _tuner_step(), rows)
    store.record_attempt(run, "t", _tuner_step(), rows[:1])  # recorded again (resume): nothing added
    assert store.tuner_configs(run, "t", TUNE_STEP) == rows and store.tuner_configs(run, "t", "seed") == []
    assert store.tuner_configs_by_step(run, "t") == {TUNE_STEP: rows}
    bundle = json.loads(json.dumps(store.bundle(run), allow_nan=False))  # what `export` writes
    seed, step = bundle["tasks"][0]["attempts"]
    assert seed["configs"] == [] and step["configs"] == rows


def test_a_row_off_the_schema_is_refused_and_its_step_not_written(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    rows = _tuned().rows()
    bad = [{**rows[0], "surprise": 1}]
    with pytest.raises(ValueError, match=r"unknown fields \['surprise'\]"):
        store.record_attempt("r", "t", _tuner_step(), bad)
    assert store.attempts("r", "t") == [] and store.tuner_configs("r", "t", TUNE_STEP) == []  # one transaction


# A store from before the tuner_configs table: runs and attempts as they were, with a tuner step recorded.
OLD_TABLES = SCHEMA_V1 + """
CREATE TABLE runs (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, env TEXT, finished TEXT
);
CREATE TABLE attempts (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, seq INTEGER NOT NULL, step_key TEXT NOT NULL,
    stage TEXT NOT NULL, origin TEXT NOT NULL, candidate_id TEXT, parent_id TEXT, status TEXT, reason TEXT,
    median_ms REAL, speedup_eager REAL, speedup_compiled REAL, decision TEXT NOT NULL, decision_reason TEXT,
    metrics_before TEXT, metrics_after TEXT, diff TEXT, wall_s REAL, llm TEXT, result TEXT, created TEXT,
    PRIMARY KEY (run_id, task_key, seq), UNIQUE (run_id, task_key, step_key)
);
INSERT INTO runs VALUES ('r', '2025-01-01', 'optimize', 'done', '{}', NULL, NULL);
INSERT INTO tasks (run_id, key, seq, path, status) VALUES ('r', 't', 0, 't.py', 'done');
INSERT INTO attempts (run_id, task_key, seq, step_key, stage, origin, decision)
    VALUES ('r', 't', 1, 'stage:block_tiling:tune', 'block_tiling', 'tuner', 'REVERT');
"""


def test_an_older_store_opens_with_the_table_and_its_steps_read_back_without_rows(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "runs.sqlite")
    con.executescript(OLD_TABLES)
    con.close()
    store = RunStore(tmp_path, create=False)
    tables = {r[0] for r in store._all("SELECT name FROM sqlite_master WHERE type='table'")}
    assert set(ADDED_TABLES) <= tables
    assert store.bundle("r")["tasks"][0]["attempts"][0]["configs"] == []  # the old tuner step: no rows
    rows = _tuned().rows()
    store.record_attempt("r", "t", AttemptRecord("stage:advanced_memory:tune", "advanced_memory", "tuner",
                                                 Decision.KEEP), rows)
    store.close()
    again = RunStore(tmp_path, create=False)  # opening the migrated store again changes nothing
    assert again.tuner_configs("r", "t", "stage:advanced_memory:tune") == rows


def _pipeline(tmp_path: Path) -> tuple[RunStore, str, list[str]]:
    """A run without an LLM (fakes only): the seed, then one launch tuner step (the real search, on the fake
    evaluator and comparer of test_tune_search), the final check."""
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    asked: list[str] = []

    def tuner(candidate: Candidate, stage: str, original_ms: float | None = None,
              budget_s: float | None = None, ab: bool = True, kernels: Any = None) -> TuneReport:
        asked.append(stage)
        t = table((8, 3), 0.06)
        t[(16, 3)] = 0.300
        ev = CrashingScreen(t, broken=frozenset({(16, 3)}), crash=frozenset({(2, 3)}))
        return tune(candidate, ev, FakeComparer(ev, 0.002), TuneSettings(freeze=True))

    ms = 0.359
    evaluator = fakes.FakeEvaluator(lambda c: EvalResult(Status.OK, timing=TimingStats(ms, ms, ms, ms, ms, 100, "fake")))
    opt = TaskOptimizer(key="t", task=None, store=store, run_id=run_id,  # type: ignore[arg-type]
                        config=OptimizeConfig(timed=True), evaluator=evaluator, comparer=None,
                        profiler=fakes.FakeProfiler(), llm=None, gpu=get_gpu("H100 SXM"), kind="single",
                        tuner=tuner)
    assert opt.run(Candidate(source=MISH)).status == "done"
    return store, run_id, asked


def test_the_pipeline_stores_the_tuners_rows_and_the_reports_show_them(tmp_path: Path) -> None:
    store, run_id, asked = _pipeline(tmp_path)
    assert asked == ["launch"]
    step = store.attempt(run_id, "t", TUNE_STEP)
    assert step is not None and step.decision is Decision.KEEP
    rows = store.tuner_configs(run_id, "t", TUNE_STEP)
    by = _by_label(rows)
    assert by[LaunchConfig(8, 3).label]["chosen"] and by[LaunchConfig(16, 3).label]["status"] == "MISMATCH"
    assert by[LaunchConfig(2, 3).label]["error"] == OOR
    attempts = store.bundle(run_id)["tasks"][0]["attempts"]
    assert [a["configs"] for a in attempts if a["configs"]] == [rows]
    html_path, md_path, _ = write_task_report(store.bundle(run_id), "t", tmp_path / "report")
    page, md = html_path.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert page.count('<details class="configs"') == 1 and f'id="configs-{step.seq}"' in page
    assert page.count('<tr class="config') == len(rows) and OOR in page and MISMATCH in page
    assert "## Launch configs the tuner tried" in md and f"| {LaunchConfig(8, 3).label} (chosen) |" in md
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and "warps=" in ln]
    assert len(lines) == len(rows)
    # Passing configs by screening time, then the failures in the order tried: the MISMATCH screened fastest.
    assert "screening: COMPILE\\_ERROR" in lines[-2] and OOR in lines[-2] and "| MISMATCH |" in lines[-1]
    screened = [float(ln.split(" | ")[2].removesuffix(" ms")) for ln in lines[:-2]]
    assert screened == sorted(screened) and min(screened) > 0.300
    # The tuner's notes (the space searched, each screening's seconds) are stored with the step and shown.
    assert step.notes and any(n.startswith("searched ") for n in step.notes)
    assert "\n- searched fused\\_activation\\_kernel\\_optimized (elementwise)" in md
    assert page.count('<ul class="tuner-notes">') == 1
