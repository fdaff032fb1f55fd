"""Tasks: one row per task of a run, its status, baselines, best candidate, times and floor."""

from __future__ import annotations

import json
from typing import Any

from tritonwright.store.base import StoreBase
from tritonwright.store.records import natural, now
from tritonwright.store.schema import JSON_COLUMNS, decode_row


class TaskQueries(StoreBase):
    def start_task(self, run_id: str, key: str, path: str, task_hash: str, level: int | None,
                   kind: str | None) -> None:
        """Register a task (idempotent: a resumed run keeps the row and its attempts)."""
        with self._tx() as c:
            seq = c.execute("SELECT COUNT(*) FROM tasks WHERE run_id=?", (run_id,)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO tasks (run_id, key, seq, path, hash, level, kind, status, started) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", (run_id, key, seq, path, task_hash, level, kind, "running",
                                                     now()))
        self.task_dir(run_id, key).mkdir(parents=True, exist_ok=True)

    def update_task(self, run_id: str, key: str, **fields: Any) -> None:
        """Set columns of a task's row; JSON columns take plain data."""
        cols = ", ".join(f"{k}=?" for k in fields)
        values = [json.dumps(v) if k in JSON_COLUMNS else v for k, v in fields.items()]
        with self._tx() as c:
            c.execute(f"UPDATE tasks SET {cols} WHERE run_id=? AND key=?", (*values, run_id, key))

    def finish_task(self, run_id: str, key: str, status: str, **fields: Any) -> None:
        self.update_task(run_id, key, status=status, finished=now(), **fields)

    def stop_running(self, run_id: str, status: str, error: str) -> list[str]:
        """Tasks of a run still marked `running` (the run stopped under them: Ctrl-C, a setup error) get
        `status` and `error`; returns their keys. A resumed batch redoes them (it skips done and failed)."""
        keys = [t["key"] for t in self.tasks(run_id) if t["status"] == "running"]
        for key in keys:
            self.finish_task(run_id, key, status, error=error)
        return keys

    def tasks(self, run_id: str) -> list[dict[str, Any]]:
        # Tasks of a batch run concurrently, so start order is not stable: list them in natural key order.
        rows = [decode_row(r) for r in self._all("SELECT * FROM tasks WHERE run_id=? ORDER BY seq", (run_id,))]
        return sorted(rows, key=lambda t: natural(t["key"]))

    def task(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM tasks WHERE run_id=? AND key=?", (run_id, key))
        return decode_row(row) if row else None
