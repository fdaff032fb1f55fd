"""Tuner configs: every launch config a tuner step tried, one row each under the step's key (tune.search's
ConfigResult.row), written in the transaction that records the step, so a step never lands without them."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from tritonwright.store.base import StoreBase
from tritonwright.store.schema import decode_row, dump

# A row's fields, in the table's column order after its key (run_id, task_key, step_key, idx).
FIELDS = ("kernel", "label", "config", "phase", "round", "original", "screen_ms", "verified", "verified_ms",
          "status", "error", "chosen")
FLAGS = ("original", "verified", "chosen")  # stored as SQLite integers 0/1, read back as bools
_KEY = ("run_id", "task_key", "step_key", "idx")  # the columns a bundle's row leaves out: its attempt says them


def insert_tuner_configs(conn: sqlite3.Connection, run_id: str, task_key: str, step_key: str,
                         rows: Sequence[Mapping[str, Any]]) -> None:
    """Write a step's config rows inside the caller's transaction; idx keeps the order they were tried in.
    A row with a field the table lacks, or without one it has, is refused: the schema is FIELDS."""
    for idx, row in enumerate(rows):
        if set(row) != set(FIELDS):
            extra, missing = sorted(set(row) - set(FIELDS)), sorted(set(FIELDS) - set(row))
            raise ValueError(f"tuner config row {idx} of {step_key!r}: unknown fields {extra}, missing {missing}")
        values = [dump(row[f]) if f == "config" else int(bool(row[f])) if f in FLAGS else row[f] for f in FIELDS]
        conn.execute(f"INSERT INTO tuner_configs ({', '.join((*_KEY, *FIELDS))}) "
                     f"VALUES ({', '.join('?' * (len(_KEY) + len(FIELDS)))})",
                     (run_id, task_key, step_key, idx, *values))


def _row(row: sqlite3.Row) -> dict[str, Any]:
    d = decode_row(row)
    out = {f: d[f] for f in FIELDS}
    for f in FLAGS:
        out[f] = bool(out[f])
    return out


class TunerConfigQueries(StoreBase):
    def tuner_configs(self, run_id: str, task_key: str, step_key: str) -> list[dict[str, Any]]:
        """The configs one tuner step tried, in the order tried ([] for any other step, or an older store's)."""
        rows = self._all("SELECT * FROM tuner_configs WHERE run_id=? AND task_key=? AND step_key=? ORDER BY idx",
                         (run_id, task_key, step_key))
        return [_row(r) for r in rows]

    def tuner_configs_by_step(self, run_id: str, task_key: str) -> dict[str, list[dict[str, Any]]]:
        """Every tuner step's configs of a task, by step key: what the export bundle attaches to each attempt."""
        out: dict[str, list[dict[str, Any]]] = {}
        for r in self._all("SELECT * FROM tuner_configs WHERE run_id=? AND task_key=? ORDER BY step_key, idx",
                           (run_id, task_key)):
            out.setdefault(r["step_key"], []).append(_row(r))
        return out
