"""Run store: one SQLite database (WAL) plus an artifact folder per run.

Every recorded step is one transaction, so a run killed at any moment (even SIGKILL) keeps everything it
had recorded and nothing half-written. Resuming looks steps up by their key and never redoes them.

Layout under the store root (default ./runs):
    runs.sqlite
    <run_id>/<task_key>/candidates/<candidate_id>.py
    <run_id>/<task_key>/llm/<step_key>.json          prompt + reply of each LLM call
    <run_id>/<task_key>/best.py, report.html, ...
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonwright.decision import Decision
from tritonwright.errors import UserInputError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, env TEXT, finished TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL, path TEXT NOT NULL, hash TEXT,
    level INTEGER, kind TEXT, status TEXT NOT NULL, error TEXT, baselines TEXT, best TEXT, usage TEXT,
    wall_s REAL, gpu_s REAL, started TEXT, finished TEXT, floor TEXT,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, seq INTEGER NOT NULL, step_key TEXT NOT NULL,
    stage TEXT NOT NULL, origin TEXT NOT NULL, candidate_id TEXT, parent_id TEXT, status TEXT, reason TEXT,
    median_ms REAL, speedup_eager REAL, speedup_compiled REAL, decision TEXT NOT NULL, decision_reason TEXT,
    metrics_before TEXT, metrics_after TEXT, diff TEXT, wall_s REAL, llm TEXT, result TEXT, created TEXT,
    PRIMARY KEY (run_id, task_key, seq), UNIQUE (run_id, task_key, step_key)
);
CREATE TABLE IF NOT EXISTS llm_calls (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, step_key TEXT NOT NULL, provider TEXT, model TEXT,
    status TEXT, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, latency_s REAL, created TEXT,
    answered INTEGER,
    PRIMARY KEY (run_id, task_key, step_key)
);
"""
# Columns added after the first release: a store created before them gets them on open (NULL in old rows).
_ADDED_COLUMNS = (("tasks", "floor", "TEXT"), ("llm_calls", "answered", "INTEGER"))

_JSON_COLUMNS = {"config", "env", "baselines", "best", "usage", "metrics_before", "metrics_after", "llm", "result",
                 "floor"}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def safe_key(text: str) -> str:
    """A task key usable as a folder name: letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


@dataclass
class AttemptRecord:
    """One step of a task's optimization, as stored and as it appears in reports."""

    step_key: str  # deterministic name of the step: resume finds it again ("seed", "repair:2", "stage:x")
    stage: str
    origin: str
    decision: Decision  # BASE | KEEP | REVERT | FAILED | SKIP, stored as that plain string
    decision_reason: str = ""
    candidate_id: str | None = None
    parent_id: str | None = None
    status: str | None = None
    reason: str = ""
    median_ms: float | None = None
    speedup_eager: float | None = None
    speedup_compiled: float | None = None
    metrics_before: Any = None
    metrics_after: Any = None
    diff: str | None = None
    wall_s: float | None = None
    llm: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class RunStore:
    def __init__(self, root: str | Path = "runs", create: bool = True) -> None:
        """Open the run store in `root`; `create=False` (runs, show, export: commands that only read) refuses
        a folder that holds no store instead of making an empty one."""
        self.root = Path(root)
        if not create and not (self.root / "runs.sqlite").is_file():
            why = "does not exist" if not self.root.exists() else "holds no run store (runs.sqlite)"
            raise UserInputError(f"--out {root}: the folder {why}; pass the folder a run wrote "
                                 "(optimize/batch --out, default runs)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "runs.sqlite"
        # One connection shared by a batch's task threads; the lock serializes them (the driver is the only
        # writer, so this is all the concurrency the store sees).
        self._conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; a kill loses nothing
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process kills
        self._conn.executescript(SCHEMA)
        self._add_columns()

    def _add_columns(self) -> None:
        with self._lock:
            for table, column, kind in _ADDED_COLUMNS:
                have = {r[1] for r in self._conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        with self._lock:
            return self._conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # --- runs --------------------------------------------------------------------------------------------

    def create_run(self, kind: str, config: dict[str, Any], env: dict[str, Any] | None = None) -> str:
        run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        with self._tx() as c:
            c.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,NULL)",
                      (run_id, _now(), kind, "running", json.dumps(config), json.dumps(env)))
        (self.root / run_id).mkdir(parents=True, exist_ok=True)
        return run_id

    def run(self, run_id: str) -> dict[str, Any]:
        row = self._one("SELECT * FROM runs WHERE id=?", (run_id,))
        if row is None:
            known = ", ".join(r["id"] for r in self.runs()[:5]) or "none"
            raise UserInputError(f"no run {run_id!r} in {self.db_path} (latest: {known})")
        return _row(row)

    def runs(self) -> list[dict[str, Any]]:
        return [_row(r) for r in self._all("SELECT * FROM runs ORDER BY created DESC, id DESC")]

    def set_run_env(self, run_id: str, env: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET env=? WHERE id=?", (json.dumps(env), run_id))

    def finish_run(self, run_id: str, status: str = "done") -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET status=?, finished=? WHERE id=?", (status, _now(), run_id))

    # --- tasks -------------------------------------------------------------------------------------------

    def start_task(self, run_id: str, key: str, path: str, task_hash: str, level: int | None,
                   kind: str | None) -> None:
        """Register a task (idempotent: a resumed run keeps the row and its attempts)."""
        with self._tx() as c:
            seq = c.execute("SELECT COUNT(*) FROM tasks WHERE run_id=?", (run_id,)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO tasks (run_id, key, seq, path, hash, level, kind, status, started) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", (run_id, key, seq, path, task_hash, level, kind, "running",
                                                     _now()))
        self.task_dir(run_id, key).mkdir(parents=True, exist_ok=True)

    def update_task(self, run_id: str, key: str, **fields: Any) -> None:
        cols = ", ".join(f"{k}=?" for k in fields)
        values = [json.dumps(v) if k in _JSON_COLUMNS else v for k, v in fields.items()]
        with self._tx() as c:
            c.execute(f"UPDATE tasks SET {cols} WHERE run_id=? AND key=?", (*values, run_id, key))

    def finish_task(self, run_id: str, key: str, status: str, **fields: Any) -> None:
        self.update_task(run_id, key, status=status, finished=_now(), **fields)

    def stop_running(self, run_id: str, status: str, error: str) -> list[str]:
        """Tasks of a run still marked `running` (the run stopped under them: Ctrl-C, a setup error) get
        `status` and `error`; returns their keys. A resumed batch redoes them (it skips done and failed)."""
        keys = [t["key"] for t in self.tasks(run_id) if t["status"] == "running"]
        for key in keys:
            self.finish_task(run_id, key, status, error=error)
        return keys

    def tasks(self, run_id: str) -> list[dict[str, Any]]:
        # Tasks of a batch run concurrently, so start order is not stable: list them in natural key order.
        rows = [_row(r) for r in self._all("SELECT * FROM tasks WHERE run_id=? ORDER BY seq", (run_id,))]
        return sorted(rows, key=lambda t: _natural(t["key"]))

    def task(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM tasks WHERE run_id=? AND key=?", (run_id, key))
        return _row(row) if row else None

    def task_dir(self, run_id: str, key: str) -> Path:
        return self.root / run_id / safe_key(key)

    # --- attempts ----------------------------------------------------------------------------------------

    def record_attempt(self, run_id: str, task_key: str, a: AttemptRecord) -> AttemptRecord:
        """Store one step; a step already recorded under the same key is returned unchanged."""
        existing = self.attempt(run_id, task_key, a.step_key)
        if existing is not None:
            return existing
        with self._tx() as c:
            a.seq = c.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM attempts WHERE run_id=? AND task_key=?",
                              (run_id, task_key)).fetchone()[0]
            c.execute(
                "INSERT INTO attempts VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, task_key, a.seq, a.step_key, a.stage, a.origin, a.candidate_id, a.parent_id, a.status,
                 a.reason, a.median_ms, a.speedup_eager, a.speedup_compiled, a.decision, a.decision_reason,
                 _dump(a.metrics_before), _dump(a.metrics_after), a.diff, a.wall_s, _dump(a.llm), _dump(a.result),
                 _now()))
        return a

    def attempt(self, run_id: str, task_key: str, step_key: str) -> AttemptRecord | None:
        row = self._one("SELECT * FROM attempts WHERE run_id=? AND task_key=? AND step_key=?",
                        (run_id, task_key, step_key))
        return _attempt(row) if row else None

    def attempts(self, run_id: str, task_key: str) -> list[AttemptRecord]:
        rows = self._all("SELECT * FROM attempts WHERE run_id=? AND task_key=? ORDER BY seq", (run_id, task_key))
        return [_attempt(r) for r in rows]

    # --- artifacts ---------------------------------------------------------------------------------------

    def save_candidate(self, run_id: str, task_key: str, candidate_id: str, source: str) -> Path:
        path = self.task_dir(run_id, task_key) / "candidates" / f"{candidate_id}.py"
        _atomic_write(path, source)
        return path

    def load_candidate(self, run_id: str, task_key: str, candidate_id: str) -> str:
        return (self.task_dir(run_id, task_key) / "candidates" / f"{candidate_id}.py").read_text()

    def record_llm_call(self, run_id: str, task_key: str, step_key: str, prompt: Any, reply: dict[str, Any]
                        ) -> None:
        """Keep the prompt and the reply (file) and its usage (row). Replies never contain API keys."""
        _atomic_write(self.task_dir(run_id, task_key) / "llm" / f"{safe_key(step_key)}.json",
                      json.dumps({"prompt": prompt, "reply": reply}, indent=1, default=str))
        with self._tx() as c:
            # answered False: refused before any answer (no request made, or none answered): not a call.
            answered = reply.get("answered")
            c.execute("INSERT OR REPLACE INTO llm_calls (run_id, task_key, step_key, provider, model, status, "
                      "input_tokens, output_tokens, cost_usd, latency_s, created, answered) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                      (run_id, task_key, step_key, reply.get("provider"), reply.get("model"), reply.get("status"),
                       reply.get("input_tokens"), reply.get("output_tokens"), reply.get("cost_usd"),
                       reply.get("latency_s"), _now(), None if answered is None else int(bool(answered))))

    def usage(self, run_id: str, task_key: str | None = None) -> dict[str, Any]:
        # A refused call (answered = 0) is no call: not counted, and having no price it leaves the total known.
        q = ("SELECT COALESCE(SUM(COALESCE(answered, 1)), 0) n, COALESCE(SUM(answered = 0), 0) refused, "
             "COALESCE(SUM(input_tokens),0) i, COALESCE(SUM(output_tokens),0) o, "
             "SUM(cost_usd) c, SUM(cost_usd IS NULL AND COALESCE(answered, 1)) unknown "
             "FROM llm_calls WHERE run_id=?")
        args: tuple[Any, ...] = (run_id,)
        if task_key is not None:
            q += " AND task_key=?"
            args += (task_key,)
        r = self._one(q, args)
        assert r is not None
        # A call without a price makes the total unknown rather than silently low.
        cost = None if (r["unknown"] or 0) > 0 else (r["c"] or 0.0)
        return {"calls": r["n"], "input_tokens": r["i"], "output_tokens": r["o"], "cost_usd": cost,
                "refused": r["refused"]}

    # --- export ------------------------------------------------------------------------------------------

    def bundle(self, run_id: str) -> dict[str, Any]:
        """The whole run as plain JSON data (the input of reports and of `tritonwright export`)."""
        run = self.run(run_id)
        tasks = []
        for t in self.tasks(run_id):
            attempts = [{k: v for k, v in a.__dict__.items() if k not in {"result", "extra", "step_key"}}
                        for a in self.attempts(run_id, t["key"])]
            tasks.append({
                "key": t["key"], "path": t["path"], "hash": t["hash"], "level": t["level"], "kind": t["kind"],
                "status": t["status"], "error": t["error"], "baselines": t["baselines"] or {},
                "attempts": attempts, "best": t["best"], "usage": self.usage(run_id, t["key"]),
                "wall_s": t["wall_s"], "gpu_s": t["gpu_s"], "floor": t.get("floor"),
            })
        return {"run": {"id": run["id"], "created": run["created"], "kind": run["kind"], "status": run["status"],
                        "config": run["config"], "env": run["env"] or {}}, "tasks": tasks}


def _natural(name: str) -> tuple[tuple[int, Any], ...]:
    """'10_x' after '9_x': digit runs compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", name))


def _dump(v: Any) -> str | None:
    return None if v is None else json.dumps(v, allow_nan=False)


def _row(row: sqlite3.Row) -> dict[str, Any]:
    d = dict(row)
    for k in _JSON_COLUMNS & d.keys():
        if d[k] is not None:
            d[k] = json.loads(d[k])
    return d


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    d = _row(row)
    for k in ("run_id", "task_key", "created"):
        d.pop(k)
    d["decision"] = Decision(d["decision"])  # the same strings since the first store: old runs load
    return AttemptRecord(**d)


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
