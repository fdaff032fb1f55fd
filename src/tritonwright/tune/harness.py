"""The real evaluator and comparer: adapters from the tuner's Protocols to `tritonwright.eval.runner`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from tritonwright.candidate import Candidate
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult
from tritonwright.task import Task

AB_ROUNDS = 10  # interleaved rounds of the final A/B comparison: enough for a median and a 95% noise band


@dataclass(frozen=True)
class HarnessEvaluator:
    task: Task
    config: EvalConfig

    def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
        from tritonwright.eval.runner import evaluate

        # Baselines (eager, torch.compile) are the same for every config: the tuner compares configs only.
        return evaluate(self.task, candidate, dataclasses.replace(self.config, timing=timed, baselines=False))

    def evaluate_many(self, candidates: list[Candidate], timed: bool) -> list[EvalResult]:
        """All configs of a round in one session: the same inputs, one process start."""
        from tritonwright.eval.runner import evaluate_many

        return evaluate_many(self.task, candidates, dataclasses.replace(self.config, timing=timed, baselines=False))


@dataclass(frozen=True)
class HarnessComparer:
    task: Task
    config: EvalConfig
    rounds: int = AB_ROUNDS

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        from tritonwright.eval.runner import compare

        return compare(self.task, a, b, self.config, threshold=threshold, rounds=self.rounds)
