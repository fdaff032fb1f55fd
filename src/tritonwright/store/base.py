"""The run store's connection: one SQLite database (WAL) under the store root, shared by a batch's task
threads behind one lock, each write one transaction; and the folder each task's artifacts go to."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tritonwright.errors import UserInputError
from tritonwright.store.records import safe_key
from tritonwright.store.schema import create_tables

DB_NAME = "runs.sqlite"  # the database file under the store root


class StoreBase:
    """What every part of the store shares: the root folder, the connection and its lock."""

    def __init__(self, root: str | Path = "runs", create: bool = True) -> None:
        """Open the run store in `root`; `create=False` (runs, show, export: commands that only read) refuses
        a folder that holds no store instead of making an empty one."""
        self.root = Path(root)
        if not create and not (self.root / DB_NAME).is_file():
            why = "does not exist" if not self.root.exists() else f"holds no run store ({DB_NAME})"
            raise UserInputError(f"--out {root}: the folder {why}; pass the folder a run wrote "
                                 "(optimize/batch --out, default runs)")
        self.root.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / DB_NAME
        # One connection shared by a batch's task threads; the lock serializes them (the driver is the only
        # writer, so this is all the concurrency the store sees).
        self._conn = sqlite3.connect(self.db_path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; a kill loses nothing
        self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process kills
        with self._lock:
            create_tables(self._conn)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed whole, or rolled back whole when anything raises."""
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
            row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
            return row

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    def task_dir(self, run_id: str, key: str) -> Path:
        """The folder of a task's artifacts: candidates, LLM calls, best.py, reports."""
        return self.root / run_id / safe_key(key)
