"""Run store: one SQLite database (WAL) plus an artifact folder per run.

Every recorded step is one transaction, so a run killed at any moment (even SIGKILL) keeps everything it
had recorded and nothing half-written. Resuming looks steps up by their key and never redoes them.

Layout under the store root (default ./runs):
    runs.sqlite
    <run_id>/<task_key>/candidates/<candidate_id>.py
    <run_id>/<task_key>/llm/<step_key>.json          prompt + reply of each LLM call
    <run_id>/<task_key>/best.py, report.html, ...

`RunStore` is the one object the rest of the package opens; each of its parts owns one table: the schema and
its migrations (schema.py), the connection (base.py), runs (runs.py), tasks (tasks.py), attempts and candidate
files (attempts.py), the launch configs each tuner step tried (tuner_configs.py), LLM calls and usage
(llm_calls.py). The export bundle reads them all (here).
"""

from __future__ import annotations

from typing import Any

from tritonwright.store.attempts import AttemptQueries
from tritonwright.store.llm_calls import LlmCallQueries
from tritonwright.store.records import AttemptRecord, safe_key
from tritonwright.store.runs import RunQueries
from tritonwright.store.schema import SCHEMA
from tritonwright.store.tasks import TaskQueries
from tritonwright.store.tuner_configs import TunerConfigQueries

__all__ = ["SCHEMA", "AttemptRecord", "RunStore", "safe_key"]


class RunStore(RunQueries, TaskQueries, AttemptQueries, TunerConfigQueries, LlmCallQueries):
    """The run store: runs, tasks, attempts, tuner configs and LLM calls over one connection (see the parts'
    modules)."""

    def bundle(self, run_id: str) -> dict[str, Any]:
        """The whole run as plain JSON data (the input of reports and of `tritonwright export`)."""
        run = self.run(run_id)
        tasks = []
        for t in self.tasks(run_id):
            configs = self.tuner_configs_by_step(run_id, t["key"])
            # Every attempt carries `configs`: the launch configs a tuner step tried ([] for other steps).
            attempts = [{**{k: v for k, v in a.__dict__.items() if k not in {"result", "extra", "step_key"}},
                         "configs": configs.get(a.step_key, [])}
                        for a in self.attempts(run_id, t["key"])]
            tasks.append({
                "key": t["key"], "path": t["path"], "hash": t["hash"], "level": t["level"], "kind": t["kind"],
                "status": t["status"], "error": t["error"], "baselines": t["baselines"] or {},
                "attempts": attempts, "best": t["best"], "usage": self.usage(run_id, t["key"]),
                "wall_s": t["wall_s"], "gpu_s": t["gpu_s"], "floor": t.get("floor"),
            })
        return {"run": {"id": run["id"], "created": run["created"], "kind": run["kind"], "status": run["status"],
                        "config": run["config"], "env": run["env"] or {}}, "tasks": tasks}
