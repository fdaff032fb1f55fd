"""The outside things the optimizer asks (evaluator, A/B timer, profiler), each behind a small Protocol
with the real adapter here; tests pass fakes. Only plain data comes back."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult
from tritonwright.task import Task


class Evaluator(Protocol):
    def evaluate(self, candidate: Candidate, timed: bool, baselines: bool = False, seed: int | None = None
                 ) -> EvalResult: ...


class Comparer(Protocol):
    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison: ...


@dataclass
class Profile:
    """What a stage needs from a profile: the prompt JSON, the parsed report (for rules) and why none."""

    metrics: dict[str, Any] | None  # kernel -> {metric: value} or [..], as the prompts print it
    report: Any = None  # tritonwright.profile ProfileReport, or None
    reason: str = ""  # why there are no metrics
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)


class Profiler(Protocol):
    def profile(self, candidate: Candidate, stage: str) -> Profile: ...


@dataclass(frozen=True)
class HarnessEvaluator:
    task: Task
    config: EvalConfig

    def evaluate(self, candidate: Candidate, timed: bool, baselines: bool = False, seed: int | None = None
                 ) -> EvalResult:
        from tritonwright.eval.runner import evaluate

        cfg = dataclasses.replace(self.config, timing=timed, baselines=baselines,
                                  seed=self.config.seed if seed is None else seed)
        return evaluate(self.task, candidate, cfg)

    def evaluate_many(self, candidates: list[Candidate], timed: bool, baselines: bool = False
                      ) -> list[EvalResult]:
        """Several answers to one prompt in one session: the same inputs, one process start."""
        from tritonwright.eval.runner import evaluate_many

        return evaluate_many(self.task, candidates, dataclasses.replace(self.config, timing=timed,
                                                                        baselines=baselines))


@dataclass(frozen=True)
class HarnessComparer:
    task: Task
    config: EvalConfig
    rounds: int = 10  # interleaved rounds: enough for a median and a 95% noise band

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        from tritonwright.eval.runner import compare

        return compare(self.task, a, b, self.config, threshold=threshold, rounds=self.rounds)


@dataclass(frozen=True)
class NcuProfiler:
    """Real ncu profiles of the candidate's own kernels (tritonwright.profile)."""

    task: Task
    timeout_s: float = 300.0  # ncu replays each kernel per metric pass; large kernels take minutes
    ncu_path: str | None = None

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        from tritonwright.profile.collect import ProfileSettings, profile_candidate
        from tritonwright.profile.render import render_metrics_json

        with tempfile.TemporaryDirectory(prefix="tritonwright-prof-") as tmp:
            path = Path(tmp) / f"candidate_{candidate.id}.py"
            path.write_text(candidate.source)
            outcome = profile_candidate(self.task, str(path), ProfileSettings(
                stage=stage, timeout_s=self.timeout_s, ncu_path=self.ncu_path))
        if not outcome.ok or outcome.report is None:
            return Profile(None, None, outcome.headline(), outcome.wall_s, list(outcome.notes))
        return Profile(render_metrics_json(outcome.report), outcome.report, "", outcome.wall_s, list(outcome.notes))


@dataclass(frozen=True)
class NoProfiler:
    """No GPU or no ncu: stages run without metrics, and the report says why."""

    reason: str

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        return Profile(None, None, self.reason)
