"""The harness behind an executor: evaluations and A/B comparisons as jobs, in-process by default or on a
GPU worker of the pool. One pair of adapters serves the optimizer and the launch tuner."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from tritonwright.candidate import Candidate
from tritonwright.defaults import AB_ROUNDS  # re-exported (tune.harness imports it from here)
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult
from tritonwright.executors.jobs import Executor, InlineExecutor, compare_job, evaluate_job, screen_job
from tritonwright.task import Task


@dataclass(frozen=True)
class HarnessEvaluator:
    """Evaluations as jobs on an executor: in-process by default, a GPU worker of the pool in batches."""

    task: Task
    config: EvalConfig
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""  # the task's key, for the pool's view of what runs where

    def evaluate(self, candidate: Candidate, timed: bool, baselines: bool = False, seed: int | None = None
                 ) -> EvalResult:
        cfg = dataclasses.replace(self.config, timing=timed, baselines=baselines,
                                  seed=self.config.seed if seed is None else seed)
        return self.executor.call(evaluate_job(self.task, [candidate], cfg, f"{self.label}: evaluate"))[0]

    def evaluate_many(self, candidates: list[Candidate], timed: bool, baselines: bool = False,
                      seed: int | None = None, budget_ms: float | None = None) -> list[EvalResult]:
        """Several candidates in one session: the same inputs, one process start. `budget_ms`: a shorter
        timing (at most the config's; its min_runs still hold)."""
        cfg = dataclasses.replace(self.config, timing=timed, baselines=baselines,
                                  seed=self.config.seed if seed is None else seed)
        if budget_ms is not None:
            cfg = dataclasses.replace(cfg, budget_ms=min(budget_ms, cfg.budget_ms))
        return self.executor.call(evaluate_job(self.task, candidates, cfg,
                                               f"{self.label}: evaluate {len(candidates)}"))

    def screen_many(self, candidates: list[Candidate], cutoff_ms: float | None = None) -> list[EvalResult]:
        """Compile and time many candidates in one session, unchecked: a ranking for the tuner."""
        return self.executor.call(screen_job(self.task, candidates, self.config,
                                             f"{self.label}: screen {len(candidates)}", cutoff_ms))


@dataclass(frozen=True)
class HarnessComparer:
    task: Task
    config: EvalConfig
    rounds: int = AB_ROUNDS
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        return self.executor.call(compare_job(self.task, a, b, self.config, threshold, self.rounds,
                                              label=f"{self.label}: A/B"))
