"""The keep/revert decision: which of K answers goes on, the A/B verdict on an LLM's change, and the tuner's
report mapped onto the run's decisions. No store and no events: decisions and their reasons come back as data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision, attempt_decision
from tritonwright.eval.types import EvalResult
from tritonwright.seams import Clock, Comparer, TuneOutcome

NO_TIMING = "timing needs a GPU: correct, but speed cannot be judged, best kept"


@dataclass(frozen=True)
class Verdict:
    decision: Decision  # KEEP or REVERT
    reason: str
    seconds: float = 0.0  # device time the A/B comparison took


@dataclass(frozen=True)
class TunerVerdict:
    decision: Decision  # the run's decision for the tuner's report (decision.attempt_decision)
    reason: str
    candidate: Candidate | None  # the tuned code to keep, or None
    tuned_ms: float | None  # its median, when kept
    status: str | None  # "OK" when some config passed its check
    configs: tuple[dict[str, Any], ...] = ()  # every config tried, as rows for the run store


def _ms(result: EvalResult) -> float:
    """Sort key: measured median, or +inf when untimed (then the first correct answer wins)."""
    return result.timing.median_ms if result.timing else float("inf")


def rank(results: list[EvalResult]) -> list[int]:
    """Indexes of `results`, the one to go on with first: correct before failing, then the fastest."""
    return sorted(range(len(results)), key=lambda j: (not results[j].ok, _ms(results[j])))


class KeepRevert:
    """Keep a correct change only when an A/B comparison says it is significantly faster."""

    def __init__(self, comparer: Comparer | None, timed: bool, threshold: float,
                 clock: Clock = time.monotonic) -> None:
        self.comparer, self.timed, self.threshold, self.clock = comparer, timed, threshold, clock

    @property
    def can_time(self) -> bool:
        """An A/B comparison is possible: a timed run (a GPU) with a comparer."""
        return self.timed and self.comparer is not None

    def compare(self, best: Candidate, cand: Candidate, threshold: float | None = None) -> Verdict:
        """KEEP when `cand` is significantly faster than `best` (by `threshold`, the run's by default); REVERT
        otherwise, or when nothing can time."""
        if not self.can_time or self.comparer is None:
            return Verdict(Decision.REVERT, NO_TIMING)
        t = self.clock()
        cmp = self.comparer.compare(best, cand, self.threshold if threshold is None else threshold)
        seconds = self.clock() - t
        return Verdict(Decision.KEEP if cmp.significant else Decision.REVERT, cmp.reason, seconds)

    @staticmethod
    def tuned(report: TuneOutcome) -> TunerVerdict:
        """The tuner decided on its own A/B comparison: its KEEP keeps the tuned code, CHECKED (no GPU) does not."""
        why = report.reason
        if report.decision is Decision.CHECKED:
            why = f"timing needs a GPU: configs checked for correctness only ({report.reason})"
        cand = report.candidate if report.decision is Decision.KEEP else None
        tuned_ms = report.tuned_ms if cand is not None else None
        status = "OK" if report.results and any(r.ok for r in report.results) else None
        configs = tuple(r.row() for r in report.results)
        return TunerVerdict(attempt_decision(report.decision), why, cand, tuned_ms, status, configs)
