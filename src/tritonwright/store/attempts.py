"""Attempts: the steps of a task, one row each under a unique step key (what resume looks up), and the
candidates' sources beside them as files."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tritonwright.decision import Decision
from tritonwright.store.base import StoreBase
from tritonwright.store.records import AttemptRecord, atomic_write, now
from tritonwright.store.schema import decode_row, dump
from tritonwright.store.tuner_configs import insert_tuner_configs

_COLUMNS = ("run_id", "task_key", "seq", "step_key", "stage", "origin", "candidate_id", "parent_id", "status",
            "reason", "median_ms", "speedup_eager", "speedup_compiled", "decision", "decision_reason",
            "metrics_before", "metrics_after", "diff", "wall_s", "llm", "result", "created", "notes")


def attempt_from_row(row: sqlite3.Row) -> AttemptRecord:
    d = decode_row(row)
    for k in ("run_id", "task_key", "created"):
        d.pop(k)
    d["decision"] = Decision(d["decision"])  # the same strings since the first store: old runs load
    return AttemptRecord(**d)


class AttemptQueries(StoreBase):
    def record_attempt(self, run_id: str, task_key: str, a: AttemptRecord,
                       configs: Sequence[Mapping[str, Any]] = ()) -> AttemptRecord:
        """Store one step, with the launch configs a tuner step tried (tuner_configs.py) in the same transaction;
        a step already recorded under the same key is returned unchanged."""
        existing = self.attempt(run_id, task_key, a.step_key)
        if existing is not None:
            return existing
        with self._tx() as c:
            a.seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE run_id=? AND task_key=?",
                              (run_id, task_key)).fetchone()[0]
            c.execute(  # columns named: a store migrated from an older one has its added columns last
                f"INSERT INTO attempts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                (run_id, task_key, a.seq, a.step_key, a.stage, a.origin, a.candidate_id, a.parent_id, a.status,
                 a.reason, a.median_ms, a.speedup_eager, a.speedup_compiled, a.decision, a.decision_reason,
                 dump(a.metrics_before), dump(a.metrics_after), a.diff, a.wall_s, dump(a.llm), dump(a.result),
                 now(), dump(a.notes)))
            insert_tuner_configs(c, run_id, task_key, a.step_key, configs)
        return a

    def attempt(self, run_id: str, task_key: str, step_key: str) -> AttemptRecord | None:
        row = self._one("SELECT * FROM attempts WHERE run_id=? AND task_key=? AND step_key=?",
                        (run_id, task_key, step_key))
        return attempt_from_row(row) if row else None

    def attempts(self, run_id: str, task_key: str) -> list[AttemptRecord]:
        rows = self._all("SELECT * FROM attempts WHERE run_id=? AND task_key=? ORDER BY seq", (run_id, task_key))
        return [attempt_from_row(r) for r in rows]

    def save_candidate(self, run_id: str, task_key: str, candidate_id: str, source: str) -> Path:
        path = self.task_dir(run_id, task_key) / "candidates" / f"{candidate_id}.py"
        atomic_write(path, source)
        return path

    def load_candidate(self, run_id: str, task_key: str, candidate_id: str) -> str:
        return (self.task_dir(run_id, task_key) / "candidates" / f"{candidate_id}.py").read_text()
