"""Plain pieces of the run store: the attempt record, task keys as folder names, natural order, time stamps
and atomic file writes."""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonwright.decision import Decision


def now() -> str:
    """UTC, to the second: what every created/started/finished column holds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def safe_key(text: str) -> str:
    """A task key usable as a folder name: letters, digits, '.', '_' and '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "task"


def natural(name: str) -> tuple[tuple[int, Any], ...]:
    """'10_x' after '9_x': digit runs compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", name))


def atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a kill leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    notes: list[str] | None = None  # a tuner step's notes: kernels by GPU time, each screening session's seconds
