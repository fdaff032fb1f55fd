"""The step recorder of one task: every step written to the run store as it finishes (with its candidate's
source and its speedups), read back by key when a resumed run meets it again, and the task's baselines kept."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult, KernelShare, TimingStats
from tritonwright.seams import TuneOutcome
from tritonwright.store import AttemptRecord, RunStore


@dataclass
class TaskState:
    """Where a task stands: the best candidate so far and the baselines its speedups are measured against."""

    best: Candidate | None = None
    best_ms: float | None = None
    best_kernels: KernelShare | None = None  # where the best's GPU time went, when its evaluation said so
    eager_ms: float | None = None
    compiled_ms: float | None = None
    eager: TimingStats | None = None  # the baselines' full figures, reused by the final check
    compiled: TimingStats | None = None
    device_s: float = 0.0  # seconds the device worked for this task: evaluations, profiles, tuning, A/B

    @property
    def best_id(self) -> str | None:
        """The best candidate's id: the parent of the next candidate."""
        return self.best.id if self.best else None

    def speedups(self, ms: float | None) -> tuple[float | None, float | None]:
        """(vs eager, vs torch.compile) of a median; None where the median or the baseline is unknown."""
        if ms is None:
            return None, None
        e = self.eager_ms / ms if self.eager_ms else None
        c = self.compiled_ms / ms if self.compiled_ms else None
        return e, c


def diff_from(best: Candidate | None, new: Candidate) -> str | None:
    """The unified diff from the best candidate to `new` (None without a best, or when they are equal)."""
    if best is None:
        return None
    lines = difflib.unified_diff(best.source.splitlines(keepends=True), new.source.splitlines(keepends=True),
                                 "best.py", "candidate.py")
    return "".join(lines) or None


class StepRecorder:
    """Writes one task's steps and baselines to the run store and finds recorded steps again."""

    def __init__(self, store: RunStore, run_id: str, key: str, state: TaskState) -> None:
        self.store, self.run_id, self.key, self.state = store, run_id, key, state

    def record(self, rec: AttemptRecord, cand: Candidate | None, result: EvalResult | None,
               configs: Sequence[Mapping[str, Any]] = ()) -> AttemptRecord:
        """Store a step; the candidate's source is saved beside it, the result fills in what it measured, and a
        tuner step's `configs` (every launch config it tried) go with it in one transaction."""
        if cand is not None:
            rec.candidate_id = cand.id
            rec.parent_id = rec.parent_id or cand.parent
            self.store.save_candidate(self.run_id, self.key, cand.id, cand.source)
        if result is not None:
            rec.status = result.status.value
            rec.reason = rec.reason or result.reason
            rec.median_ms = result.timing.median_ms if result.timing else None
            rec.speedup_eager, rec.speedup_compiled = self.state.speedups(rec.median_ms)
            rec.result = result.to_dict()
            rec.wall_s = rec.wall_s or result.wall_s
        return self.store.record_attempt(self.run_id, self.key, rec, configs)

    def record_tuning(self, key: str, stage: str, base: Candidate, report: TuneOutcome,
                      metrics: dict[str, Any] | None = None) -> tuple[Candidate | None, float | None]:
        """A tuner pass over `base` as one row (every config it tried goes with it); its device time counted.
        Returns the tuned code and its median when the tuner kept it, else (None, None)."""
        from tritonwright.pipeline.verdict import KeepRevert

        self.state.device_s += report.wall_s
        verdict = KeepRevert.tuned(report)
        tuned = verdict.candidate
        spent = report.time_line()  # where a pass of tens of seconds went: in its row and the log line
        reason = f"{verdict.reason} [{spent}]" if spent else verdict.reason
        rec = AttemptRecord(key, stage, "tuner", verdict.decision, decision_reason=reason,
                            metrics_before=metrics, diff=diff_from(base, tuned) if tuned else None,
                            median_ms=verdict.tuned_ms, wall_s=report.wall_s, status=verdict.status,
                            parent_id=base.id, notes=list(report.notes) or None)
        rec.speedup_eager, rec.speedup_compiled = self.state.speedups(verdict.tuned_ms)
        cand = None if tuned is None else Candidate(source=tuned.source, origin="tune", parent=base.id)
        self.record(rec, cand, None, verdict.configs)
        return (cand, verdict.tuned_ms) if cand is not None else (None, None)

    def skip(self, key: str, stage: str, origin: str, why: str, metrics: dict[str, Any] | None = None) -> None:
        """A SKIP row: nothing was tried, and `why` says so."""
        self.record(AttemptRecord(key, stage, origin, Decision.SKIP, decision_reason=why, metrics_before=metrics),
                    None, None)

    def recorded(self, step_key: str) -> tuple[AttemptRecord, Candidate | None] | None:
        """A step already recorded under `step_key` (a resumed run), with its candidate; None if not yet."""
        rec = self.store.attempt(self.run_id, self.key, step_key)
        if rec is None:
            return None
        cand = None
        if rec.candidate_id:
            src = self.store.load_candidate(self.run_id, self.key, rec.candidate_id)
            cand = Candidate(source=src, origin=rec.origin, parent=rec.parent_id)
        return rec, cand

    def take_baselines(self, result: EvalResult) -> None:
        """Keep the eager / torch.compile timings an evaluation brought, in the state and the task's row."""
        if result.eager:
            self.state.eager, self.state.eager_ms = result.eager, result.eager.median_ms
        if result.compiled:
            self.state.compiled, self.state.compiled_ms = result.compiled, result.compiled.median_ms
        if result.eager or result.compiled:
            self.update_task(baselines={"eager_ms": self.state.eager_ms, "compiled_ms": self.state.compiled_ms,
                                        "compile_mode": "default"})

    def task_row(self) -> dict[str, Any] | None:
        return self.store.task(self.run_id, self.key)

    def update_task(self, **fields: Any) -> None:
        self.store.update_task(self.run_id, self.key, **fields)
