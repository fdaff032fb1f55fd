"""The outside things the optimizer asks (evaluator, A/B timer, profiler, floor, torch.compile's code to race),
each behind a small Protocol with the real adapter here; tests pass fakes. Only plain data comes back. The
evaluator's and the comparer's Protocols are the package's (tritonwright/seams.py), re-exported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.executors.faults import JobLost
from tritonwright.executors.harness import HarnessComparer, HarnessEvaluator
from tritonwright.executors.jobs import Executor, InlineExecutor, floor_job, inductor_seed_job, profile_job
from tritonwright.floor import FloorInfo
from tritonwright.inductor_seed import SeedOutcome
from tritonwright.seams import Comparer, Evaluator
from tritonwright.task import Task

__all__ = ["Comparer", "Evaluator", "FloorProbe", "HarnessComparer", "HarnessEvaluator", "HarnessFloor",
           "HarnessRival", "NcuProfiler", "NoFloor", "NoProfiler", "Profile", "Profiler", "Rival"]


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
class NcuProfiler:
    """Real ncu profiles of the candidate's own kernels (tritonwright.profile), one at a time per GPU."""

    task: Task
    timeout_s: float = 300.0  # ncu replays each kernel per metric pass; large kernels take minutes
    ncu_path: str | None = None
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        from tritonwright.profile.collect import ProfileSettings

        settings = ProfileSettings(stage=stage, timeout_s=self.timeout_s, ncu_path=self.ncu_path)
        res = self.executor.call(profile_job(self.task, candidate, settings, f"{self.label}: ncu {stage}"))
        outcome = res.outcome
        if res.metrics is None:
            return Profile(None, None, outcome.headline(), outcome.wall_s, list(res.notes))
        return Profile(res.metrics, outcome.report, "", outcome.wall_s, list(res.notes))


@dataclass(frozen=True)
class NoProfiler:
    """No GPU or no ncu: stages run without metrics, and the report says why."""

    reason: str

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        return Profile(None, None, self.reason)


class FloorProbe(Protocol):
    def floor(self) -> FloorInfo: ...


@dataclass(frozen=True)
class HarnessFloor:
    """The task's speed-of-light floor as a job on the task's executor (a child process on its GPU)."""

    task: Task
    device: str
    cache_dir: str | None = None
    use_cache: bool = True
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""

    def floor(self) -> FloorInfo:
        info: FloorInfo = self.executor.call(floor_job(self.task, self.device, self.cache_dir, self.use_cache,
                                                       f"{self.label}: floor"))
        return info


@dataclass(frozen=True)
class NoFloor:
    """No floor (CPU run, or turned off): nothing stops early, and the record says why."""

    reason: str

    def floor(self) -> FloorInfo:
        return FloorInfo.unavailable(self.reason)


class Rival(Protocol):
    def make(self) -> SeedOutcome:
        """torch.compile's own generated Triton code for the task (pipeline/race.py races it)."""
        ...


@dataclass(frozen=True)
class HarnessRival:
    """The Inductor seed (tritonwright.inductor_seed) as a job on the task's executor: made on the GPU slot
    that times the task's candidates, never beside their timing. The race's rival, and batch's start for a
    task with no candidate and no LLM."""

    task: Task
    device: str
    workdir: str | None = None  # the seed child's log and files; a fresh temporary folder when None
    executor: Executor = field(default_factory=InlineExecutor)
    label: str = ""

    def make(self) -> SeedOutcome:
        try:
            outcome: SeedOutcome = self.executor.call(inductor_seed_job(self.task, self.device, self.workdir,
                                                                        f"{self.label}: torch.compile's code"))
        except JobLost as exc:  # its workers died on every try: the race is lost, the task's best is not
            return SeedOutcome(None, f"the job was lost ({exc})")
        return outcome
