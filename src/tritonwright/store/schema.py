"""The run store's tables and their migrations, and how rows become plain data (JSON columns decoded)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

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
    notes TEXT,
    PRIMARY KEY (run_id, task_key, seq), UNIQUE (run_id, task_key, step_key)
);
CREATE TABLE IF NOT EXISTS llm_calls (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, step_key TEXT NOT NULL, provider TEXT, model TEXT,
    status TEXT, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, latency_s REAL, created TEXT,
    answered INTEGER,
    PRIMARY KEY (run_id, task_key, step_key)
);
CREATE TABLE IF NOT EXISTS tuner_configs (
    run_id TEXT NOT NULL, task_key TEXT NOT NULL, step_key TEXT NOT NULL, idx INTEGER NOT NULL,
    kernel TEXT NOT NULL, label TEXT NOT NULL, config TEXT NOT NULL, phase TEXT NOT NULL, round INTEGER,
    original INTEGER NOT NULL, screen_ms REAL, verified INTEGER NOT NULL, verified_ms REAL, status TEXT NOT NULL,
    error TEXT, chosen INTEGER NOT NULL,
    PRIMARY KEY (run_id, task_key, step_key, idx)
);
"""
# Columns added after the first release: a store created before them gets them on open (NULL in old rows).
ADDED_COLUMNS = (("tasks", "floor", "TEXT"), ("llm_calls", "answered", "INTEGER"), ("attempts", "notes", "TEXT"))
# Tables added after the first release: SCHEMA's CREATE TABLE IF NOT EXISTS makes them (empty) when an older
# store opens, so its steps read back with no rows in them.
ADDED_TABLES = ("tuner_configs",)

JSON_COLUMNS = {"config", "env", "baselines", "best", "usage", "metrics_before", "metrics_after", "llm", "result",
                "floor", "notes"}


def create_tables(conn: sqlite3.Connection) -> None:
    """Every table (those missing), then the columns added since the first release."""
    conn.executescript(SCHEMA)
    add_columns(conn)


def add_columns(conn: sqlite3.Connection) -> None:
    """Migrate a store created before a column existed: add it (old rows read it as NULL)."""
    for table, column, kind in ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")


def dump(v: Any) -> str | None:
    """A JSON column's text; None stays NULL. NaN and infinities are refused: bundles are strict JSON."""
    return None if v is None else json.dumps(v, allow_nan=False)


def decode_row(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, its JSON columns decoded."""
    d = dict(row)
    for k in JSON_COLUMNS & d.keys():
        if d[k] is not None:
            d[k] = json.loads(d[k])
    return d
