"""The real evaluator and comparer: adapters from the tuner's Protocols to `tritonwright.eval.runner`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tritonwright.candidate import Candidate
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult
from tritonwright.executors.jobs import Executor, InlineExecutor, compare_job, evaluate_job
from tritonwright.task import Task

AB_ROUNDS = 10  # interleaved rounds of the final A/B comparison: enough for a median and a 95% noise band


@dataclass(frozen=True)
class HarnessEvaluator:
    task: Task
    config: EvalConfig
    executor: Executor = field(default_factory=InlineExecutor)  # in-process, or a GPU worker of the pool
    label: str = ""

    def evaluate(self, candidate: Candidate, timed: bool) -> EvalResult:
        # Baselines (eager, torch.compile) are the same for every config: the tuner compares configs only.
        cfg = dataclasses.replace(self.config, timing=timed, baselines=False)
        return self.executor.call(evaluate_job(self.task, [candidate], cfg, f"{self.label}: tune"))[0]

    def evaluate_many(self, candidates: list[Candidate], timed: bool) -> list[EvalResult]:
        """All configs of a round in one session: the same inputs, one process start."""
        cfg = dataclasses.replace(self.config, timing=timed, baselines=False)
        return self.executor.call(evaluate_job(self.task, candidates, cfg,
                                               f"{self.label}: tune {len(candidates)} configs"))


@dataclass(frozen=True)
class HarnessComparer:
    task: Task
    config: EvalConfig
    rounds: int = AB_ROUNDS
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        return self.executor.call(compare_job(self.task, a, b, self.config, threshold, self.rounds,
                                              label=f"{self.label}: tune A/B"))
