"""The run store's parts alone (tritonwright/store/): the schema and its migration, row decoding, the plain
records, and each table's queries on a store that has only them (runs, tasks, attempts, LLM calls)."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from tests.test_store import SCHEMA_V1
from tritonwright.decision import Decision
from tritonwright.errors import UserInputError
from tritonwright.store.attempts import AttemptQueries
from tritonwright.store.base import StoreBase
from tritonwright.store.llm_calls import LlmCallQueries
from tritonwright.store.records import AttemptRecord, atomic_write, natural, safe_key
from tritonwright.store.runs import RunQueries
from tritonwright.store.schema import ADDED_COLUMNS, ADDED_TABLES, create_tables, decode_row, dump
from tritonwright.store.tasks import TaskQueries
from tritonwright.store.tuner_configs import FIELDS, TunerConfigQueries, insert_tuner_configs


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def test_the_schema_is_created_and_an_old_one_migrated() -> None:
    fresh = sqlite3.connect(":memory:")
    create_tables(fresh)
    assert {"runs", "tasks", "attempts", "llm_calls"} <= {r[0] for r in fresh.execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    old = sqlite3.connect(":memory:")
    old.executescript(SCHEMA_V1)
    assert "floor" not in _columns(old, "tasks") and "answered" not in _columns(old, "llm_calls")
    create_tables(old)
    create_tables(old)  # opening again changes nothing
    for table, column, _ in ADDED_COLUMNS:
        assert column in _columns(old, table)
    for table in ADDED_TABLES:
        assert _columns(old, table) >= set(FIELDS)


def test_rows_decode_their_json_columns() -> None:
    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    create_tables(conn)
    conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,NULL)", ("r", "now", "batch", "running", dump({"a": [1]}),
                                                                 dump(None)))
    row = decode_row(conn.execute("SELECT * FROM runs").fetchone())
    assert row["config"] == {"a": [1]} and row["env"] is None and row["kind"] == "batch"
    with pytest.raises(ValueError):
        dump({"x": math.nan})  # bundles are strict JSON


def test_plain_records() -> None:
    assert sorted(["10_x", "9_x", "level1/2_y"], key=natural) == ["9_x", "10_x", "level1/2_y"]
    assert safe_key("level1/19_ReLU.py") == "level1_19_ReLU.py" and safe_key("///") == "task"
    assert AttemptRecord("seed", "seed", "user", Decision.BASE).extra == {}


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    atomic_write(target, "one")
    atomic_write(target, "two")
    assert target.read_text() == "two" and [p.name for p in target.parent.iterdir()] == ["b.json"]


def test_the_connection_refuses_a_folder_without_a_store_when_only_reading(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="does not exist"):
        StoreBase(tmp_path / "nope", create=False)
    with pytest.raises(UserInputError, match=r"holds no run store \(runs.sqlite\)"):
        StoreBase(tmp_path, create=False)
    base = StoreBase(tmp_path)
    assert base.db_path == tmp_path / "runs.sqlite" and base.task_dir("r", "level1/x") == tmp_path / "r" / "level1_x"
    with pytest.raises(RuntimeError), base._tx() as c:  # a failing transaction leaves nothing behind
        c.execute("INSERT INTO runs VALUES ('r', 'now', 'batch', 'running', '{}', NULL, NULL)")
        raise RuntimeError("boom")
    assert base._all("SELECT * FROM runs") == []
    base.close()


def test_runs_alone(tmp_path: Path) -> None:
    runs = RunQueries(tmp_path)
    first = runs.create_run("optimize", {"threshold": 0.02}, {"python": "3.11"})
    assert (tmp_path / first).is_dir() and runs.run(first)["status"] == "running"
    second = runs.create_run("batch", {})
    assert [r["id"] for r in runs.runs()][0] in {first, second}
    runs.set_run_env(first, {"executor": {"slots": []}})
    runs.finish_run(first, "failed")
    row = runs.run(first)
    assert row["env"] == {"executor": {"slots": []}} and row["status"] == "failed" and row["finished"]
    with pytest.raises(UserInputError, match="no run 'nope'"):
        runs.run("nope")


def test_tasks_alone(tmp_path: Path) -> None:
    tasks = TaskQueries(tmp_path)
    for key in ("10_b", "9_a", "11_c"):
        tasks.start_task("r", key, f"{key}.py", "h", 1, "single")
    tasks.start_task("r", "9_a", "9_a.py", "h", 1, "single")  # idempotent on resume
    assert [t["key"] for t in tasks.tasks("r")] == ["9_a", "10_b", "11_c"]
    tasks.update_task("r", "9_a", best={"median_ms": 1.0}, wall_s=2.0)
    tasks.finish_task("r", "10_b", "done")
    assert tasks.stop_running("r", "interrupted", "Ctrl-C") == ["9_a", "11_c"]
    row = tasks.task("r", "9_a")
    assert row is not None and row["best"] == {"median_ms": 1.0} and row["status"] == "interrupted"
    assert tasks.task("r", "nope") is None and (tmp_path / "r" / "9_a").is_dir()


def test_attempts_alone(tmp_path: Path) -> None:
    attempts = AttemptQueries(tmp_path)
    first = attempts.record_attempt("r", "t", AttemptRecord("seed", "seed", "user", Decision.BASE,
                                                            llm={"calls": 1}, result={"status": "OK"}))
    attempts.record_attempt("r", "t", AttemptRecord("final", "final", "user", Decision.KEEP))
    same = attempts.record_attempt("r", "t", AttemptRecord("seed", "seed", "llm", Decision.FAILED))
    assert first.seq == 1 and same.decision is Decision.BASE and same.origin == "user"
    assert [(a.seq, a.step_key) for a in attempts.attempts("r", "t")] == [(1, "seed"), (2, "final")]
    got = attempts.attempt("r", "t", "seed")
    assert got is not None and got.llm == {"calls": 1} and type(got.decision) is Decision
    path = attempts.save_candidate("r", "t", "c1", "x = 1\n")
    assert path == tmp_path / "r" / "t" / "candidates" / "c1.py" and attempts.load_candidate("r", "t", "c1") == "x = 1\n"


def test_tuner_configs_alone(tmp_path: Path) -> None:
    configs = TunerConfigQueries(tmp_path)
    row = {"kernel": "k", "label": "BLOCK=64 warps=2 stages=1", "config": {"BLOCK": 64, "num_warps": 2,
           "num_stages": 1}, "phase": "refine", "round": 3, "original": False, "screen_ms": None, "verified": False,
           "verified_ms": None, "status": "COMPILE_ERROR", "error": "OutOfResources: shared memory", "chosen": False}
    with configs._tx() as c:
        insert_tuner_configs(c, "r", "t", "stage:a:tune", [row, {**row, "status": "OK", "error": None}])
    got = configs.tuner_configs("r", "t", "stage:a:tune")
    assert got[0] == row and got[1]["status"] == "OK" and type(got[0]["original"]) is bool
    assert list(configs.tuner_configs_by_step("r", "t")) == ["stage:a:tune"] and configs.tuner_configs_by_step("r", "u") == {}
    with pytest.raises(ValueError, match=r"missing \['chosen'\]"), configs._tx() as c:
        insert_tuner_configs(c, "r", "t", "stage:b:tune", [{k: v for k, v in row.items() if k != "chosen"}])
    assert configs.tuner_configs("r", "t", "stage:b:tune") == []


def test_llm_calls_alone(tmp_path: Path) -> None:
    calls = LlmCallQueries(tmp_path)
    calls.record_llm_call("r", "t", "stage:x:llm", [{"role": "user", "content": "p"}],
                          {"provider": "p", "input_tokens": 3, "output_tokens": 4, "cost_usd": 0.25,
                           "answered": True})
    calls.record_llm_call("r", "u", "seed", [], {"provider": "p", "cost_usd": None, "answered": False})
    assert calls.usage("r") == {"calls": 1, "input_tokens": 3, "output_tokens": 4, "cost_usd": 0.25, "refused": 1}
    assert calls.usage("r", "u") == {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                                     "refused": 1}
    kept = json.loads((tmp_path / "r" / "t" / "llm" / "stage_x_llm.json").read_text())
    assert kept["prompt"][0]["content"] == "p" and kept["reply"]["cost_usd"] == 0.25


def test_a_migrated_store_keeps_a_tuner_steps_notes(tmp_path: Path) -> None:
    """A store from before the notes column gets it last; the insert names its columns, so a step's notes
    land in it, and its other fields where they were."""
    from tritonwright.store import RunStore

    root = tmp_path / "runs"
    root.mkdir()
    old = sqlite3.connect(root / "runs.sqlite")
    old.executescript(SCHEMA_V1)
    old.close()
    store = RunStore(root)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "task.py", "h", 1, "single")
    notes = ["kernels by GPU time in one forward: k2 0.4 ms, k1 0.1 ms", "screen (coarse): 24 configs in 8.2 s"]
    store.record_attempt(run_id, "t", AttemptRecord("stage:x:tune", "block_tiling", "tuner", Decision.REVERT,
                                                     decision_reason="not faster", wall_s=12.5, notes=notes))
    store.record_attempt(run_id, "t", AttemptRecord("seed", "seed", "user", Decision.BASE, median_ms=1.5))
    tuned, seed = store.attempts(run_id, "t")
    assert tuned.notes == notes and tuned.wall_s == 12.5 and tuned.decision_reason == "not faster"
    assert seed.notes is None and seed.median_ms == 1.5
    assert store.bundle(run_id)["tasks"][0]["attempts"][0]["notes"] == notes
