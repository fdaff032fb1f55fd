"""Runs: one row per optimize or batch command, with its settings and its environment."""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from tritonwright.errors import UserInputError
from tritonwright.store.base import StoreBase
from tritonwright.store.records import now
from tritonwright.store.schema import decode_row


class RunQueries(StoreBase):
    def create_run(self, kind: str, config: dict[str, Any], env: dict[str, Any] | None = None) -> str:
        """A new run, `running`; its id sorts by creation time (UTC stamp, then 6 random hex digits)."""
        run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._tx() as c:
            c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,NULL)",
                      (run_id, now(), kind, "running", json.dumps(config), json.dumps(env)))
        (self.root / run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM runs WHERE id=?", (run_id,))
        if row is None:
            known = ", ".join(r["id"] for r in self.runs()[:5]) or "none"
            raise UserInputError(f"no run {run_id!r} in {self.db_path} (latest: {known})")
        return decode_row(row)

    def runs(self) -> list[dict[str, Any]]:
        """Every run, the latest first."""
        return [decode_row(r) for r in self._all("SELECT * FROM runs ORDER BY created DESC, id DESC")]

    def set_run_env(self, run_id: str, env: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET env=? WHERE id=?", (json.dumps(env), run_id))

    def finish_run(self, run_id: str, status: str = "done") -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status=?, finished=? WHERE id=?", (status, now(), run_id))
