"""Run store: records, resume lookups, usage totals, the export bundle, durability across a kill."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal

import pytest

from tritonwright.errors import UserInputError
from tritonwright.store import AttemptRecord, RunStore, safe_key


def test_run_task_attempt_round_trip(tmp_path):
    s = RunStore(tmp_path)
    run = s.create_run("optimize", {"threshold": 0.02})
    s.start_task(run, "elu", "examples/elu/task.py", "abc", 1, "single")
    s.start_task(run, "elu", "examples/elu/task.py", "abc", 1, "single")  # idempotent on resume
    a = s.record_attempt(run, "elu", AttemptRecord("seed", "seed", "user", "BASE", candidate_id="c1",
                                                   status="OK", median_ms=1.5, metrics_before={"k": {"m": 1}}))
    assert a.seq == 1
    again = s.record_attempt(run, "elu", AttemptRecord("seed", "seed", "user", "KEEP"))
    assert again.decision == "BASE" and len(s.attempts(run, "elu")) == 1  # a recorded step is never redone
    s.record_attempt(run, "elu", AttemptRecord("stage:block_tiling", "block_tiling", "tuner", "REVERT"))
    assert [x.seq for x in s.attempts(run, "elu")] == [1, 2]
    s.finish_task(run, "elu", "done", best={"candidate_id": "c1"}, wall_s=3.0)
    b = s.bundle(run)
    assert b["run"]["config"] == {"threshold": 0.02}
    t = b["tasks"][0]
    assert t["status"] == "done" and t["best"] == {"candidate_id": "c1"}
    assert t["attempts"][0]["metrics_before"] == {"k": {"m": 1}}
    json.dumps(b, allow_nan=False)


def test_usage_unknown_cost_is_not_zero(tmp_path):
    s = RunStore(tmp_path)
    run = s.create_run("optimize", {})
    s.start_task(run, "t", "t.py", "h", None, None)
    s.record_llm_call(run, "t", "seed", [{"role": "user", "content": "p"}],
                      {"provider": "openai", "model": "m", "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5})
    assert s.usage(run) == {"calls": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5, "refused": 0}
    s.record_llm_call(run, "t", "repair:1", [], {"provider": "x", "input_tokens": 1, "output_tokens": 1,
                                                 "cost_usd": None})
    assert s.usage(run)["cost_usd"] is None
    assert (s.task_dir(run, "t") / "llm" / "repair_1.json").exists()


def test_refused_calls_are_not_counted_as_calls(tmp_path):
    s = RunStore(tmp_path)
    run = s.create_run("optimize", {})
    s.start_task(run, "t", "t.py", "h", None, None)
    s.record_llm_call(run, "t", "seed", [], {"provider": "openai", "model": "m", "input_tokens": 10,
                                             "output_tokens": 5, "cost_usd": 0.5, "answered": True})
    # Refused before any answer (no price known either): no call, and the known total stays known.
    s.record_llm_call(run, "t", "repair:1", [], {"provider": "replay", "status": "FAILED", "input_tokens": 0,
                                                 "output_tokens": 0, "cost_usd": None, "answered": False})
    assert s.usage(run) == {"calls": 1, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.5, "refused": 1}
    assert s.usage(run, "t")["refused"] == 1


def test_a_store_from_before_the_floor_and_answered_columns_opens(tmp_path):
    import sqlite3

    old = SCHEMA_V1
    con = sqlite3.connect(tmp_path / "runs.sqlite")
    con.executescript(old)
    con.execute("INSERT INTO llm_calls (run_id, task_key, step_key, status) VALUES ('r', 't', 'seed', 'OK')")
    con.commit()
    con.close()
    s = RunStore(tmp_path)
    assert s.usage("r")["calls"] == 1  # an old row (no answered column) counts as before
    s.update_task("r", "t", floor={"available": False, "reason": "x"})


SCHEMA_V1 = """
CREATE TABLE tasks (
    run_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, path TEXT NOT NULL, hash TEXT,
    level INTEGER, kind TEXT, status TEXT NOT NULL, error TEXT, baselines TEXT, best TEXT, usage TEXT,
    wall_s REAL, gpu_s REAL, started TEXT, finished TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE llm_calls (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, step_key TEXT NOT NULL, provider TEXT, model TEXT,
    status TEXT, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, latency_s REAL, created TEXT,
    PRIMARY KEY (run_id, task_key, step_key)
);
"""


def test_unknown_run_is_a_clear_error(tmp_path):
    with pytest.raises(UserInputError, match="no run 'nope'"):
        RunStore(tmp_path).run("nope")


def test_safe_key():
    assert safe_key("level1/19_ReLU.py") == "level1_19_ReLU.py"


def _writer(root: str, n: int) -> None:
    s = RunStore(root)
    run = s.create_run("batch", {})
    for i in range(n):
        s.start_task(run, f"t{i}", f"t{i}.py", "h", None, None)
        s.record_attempt(run, f"t{i}", AttemptRecord("seed", "seed", "user", "BASE"))
        s.finish_task(run, f"t{i}", "done")
    os.kill(os.getpid(), signal.SIGKILL)


def test_sigkill_keeps_every_committed_step(tmp_path):
    p = mp.get_context("spawn").Process(target=_writer, args=(str(tmp_path), 25))
    p.start()
    p.join(60)
    assert p.exitcode == -signal.SIGKILL
    s = RunStore(tmp_path)
    run = s.runs()[0]["id"]
    tasks = s.tasks(run)
    assert len(tasks) == 25 and all(t["status"] == "done" for t in tasks)
    assert all(len(s.attempts(run, t["key"])) == 1 for t in tasks)
