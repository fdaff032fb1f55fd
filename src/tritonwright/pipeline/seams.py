"""The outside things the optimizer asks (evaluator, A/B timer, profiler, floor), each behind a small Protocol
with the real adapter here; tests pass fakes. Only plain data comes back. The evaluator's and the comparer's
Protocols are the package's (tritonwright/seams.py), re-exported here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.executors.harness import HarnessComparer, HarnessEvaluator
from tritonwright.executors.jobs import Executor, InlineExecutor, floor_job, profile_job
from tritonwright.floor import FloorInfo
from tritonwright.seams import Comparer, Evaluator
from tritonwright.task import Task

__all__ = ["Comparer", "Evaluator", "FloorProbe", "HarnessComparer", "HarnessEvaluator", "HarnessFloor",
           "InductorRival", "NcuProfiler", "NoFloor", "NoProfiler", "Profile", "Profiler", "Rival", "RivalCode"]


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
        return self.executor.call(floor_job(self.task, self.device, self.cache_dir, self.use_cache,
                                            f"{self.label}: floor"))


@dataclass(frozen=True)
class NoFloor:
    """No floor (CPU run, or turned off): nothing stops early, and the record says why."""

    reason: str

    def floor(self) -> FloorInfo:
        return FloorInfo.unavailable(self.reason)


@dataclass(frozen=True)
class RivalCode:
    """torch.compile's generated code as a candidate, or the one-line reason it could not be made."""

    candidate: Candidate | None
    reason: str = ""


class Rival(Protocol):
    def make(self) -> RivalCode:
        """torch.compile's own generated Triton code for the task (pipeline/race.py races it)."""
        ...


@dataclass(frozen=True)
class InductorRival:
    """The Inductor seed (tritonwright.inductor_seed) made in a child process on this machine's GPU, where the
    run's `optimize`/`batch` makes its starting seeds too."""

    task: Task
    device: str
    workdir: str | None = None  # the seed child's log and files; a fresh temporary folder when None

    def make(self) -> RivalCode:
        from tritonwright.errors import UserInputError
        from tritonwright.inductor_seed import make_seed

        try:
            return RivalCode(make_seed(self.task, self.device, workdir=self.workdir).candidate)
        except UserInputError as exc:  # InductorSeedError: one line, naming the child's log when it has one
            return RivalCode(None, str(exc))
