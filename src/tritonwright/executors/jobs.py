"""GPU jobs as typed plain data, each kind its own frozen dataclass that runs itself wherever a worker lives.

A job says what to do by its type (EvaluateJob, ScreenJob, CompareJob, ProfileJob, FloorJob, InductorSeedJob,
HealthJob) and carries its inputs as dataclasses of plain values (the task's source, the candidates' sources,
the settings): no live tensors, no open files. `job.run()` runs it in-process (`InlineExecutor`), in a local pool worker, or
in a Ray actor on another machine. The pool and the executors accept any object with the `Job` interface
(`label`, `timeout_s`, `run()`), so a test can bring its own job kind without production code knowing it.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tritonwright.candidate import Candidate
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult
from tritonwright.task import Task

if TYPE_CHECKING:
    from tritonwright.floor import FloorInfo
    from tritonwright.inductor_seed import SeedOutcome

_TIMEOUT_MARGIN = 2.0  # a job's own steps have timeouts; the pool's is a backstop for a wedged worker only
_HEALTH_TIMEOUT_S = 240.0  # a cold Triton cache compiles the tiny kernel in seconds; ptxas on a busy host more
_DEFAULT_TIMEOUT_S = 3600.0  # the backstop of a job built without a budget: past it the worker is killed


@runtime_checkable
class Job(Protocol):
    """What the pool, the local worker and the Ray actor need of a job."""

    @property
    def label(self) -> str: ...  # "task key: step" for logs and the pool's event list

    @property
    def timeout_s(self) -> float: ...  # the backstop: past it the worker is killed and the job retried

    def run(self) -> Any: ...  # runs here; returns plain data, raises what the harness raises (TaskError, ...)


def job_name(job: Job) -> str:
    """The label, or the job's kind when it has none."""
    return job.label or type(job).__name__


class Executor(Protocol):
    """Runs jobs: `call` blocks until the result (or raises what the job raised)."""

    def call(self, job: Job) -> Any: ...


class InlineExecutor:
    """Runs each job in the calling process: `tritonwright eval`-style single runs and most tests."""

    def call(self, job: Job) -> Any:
        return run_job(job)

    def close(self) -> None:
        pass


def run_job(job: Job) -> Any:
    """Run one job here, by its own type's `run`; a worker's entry point."""
    if not isinstance(job, Job):
        raise TypeError(f"not a job: {type(job).__name__} (a job has label, timeout_s and run())")
    return job.run()


# --- the job kinds ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluateJob:
    """Correctness and timing of candidates in one session (eval.runner.evaluate_many)."""

    task: Task
    candidates: list[Candidate]
    config: EvalConfig
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S

    def run(self) -> list[EvalResult]:
        from tritonwright.eval.runner import evaluate_many

        return evaluate_many(self.task, self.candidates, self.config)


@dataclass(frozen=True)
class ScreenJob:
    """Time many candidates without checking them (eval.runner.screen_many)."""

    task: Task
    candidates: list[Candidate]
    config: EvalConfig
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S
    cutoff_ms: float | None = None  # runner.screen_many's: slower configs keep their warm-up runs as figure

    def run(self) -> list[EvalResult]:
        from tritonwright.eval.runner import screen_many

        return screen_many(self.task, self.candidates, self.config, self.cutoff_ms)


@dataclass(frozen=True)
class CompareJob:
    """Interleaved A/B timing; one Comparison, or a list of them when `repeats` > 1."""

    task: Task
    a: Candidate
    b: Candidate
    config: EvalConfig
    threshold: float
    rounds: int
    repeats: int = 1
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S

    def run(self) -> Comparison | list[Comparison]:
        from tritonwright.eval.runner import compare_repeated

        out = compare_repeated(self.task, self.a, self.b, self.config, self.threshold, self.rounds,
                               repeats=self.repeats)
        return out if self.repeats > 1 else out[0]


@dataclass
class ProfileResult:
    """What a profile job brings back: the outcome (with its parsed report) and the metrics JSON."""

    outcome: Any  # tritonwright.profile.collect.ProfileOutcome
    metrics: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileJob:
    """Nsight Compute metrics of the candidate's kernels (tritonwright.profile)."""

    task: Task
    candidate: Candidate
    settings: Any  # tritonwright.profile.collect.ProfileSettings
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S

    def run(self) -> ProfileResult:
        from tritonwright.profile.collect import profile_candidate
        from tritonwright.profile.render import render_metrics_json

        with tempfile.TemporaryDirectory(prefix="tritonwright-prof-") as tmp:
            path = Path(tmp) / f"candidate_{self.candidate.id}.py"
            path.write_text(self.candidate.source)
            outcome = profile_candidate(self.task, str(path), self.settings)
        metrics = render_metrics_json(outcome.report) if outcome.ok and outcome.report is not None else None
        return ProfileResult(outcome, metrics, list(outcome.notes))


@dataclass(frozen=True)
class FloorJob:
    """The task's speed-of-light floor on the worker's GPU (tritonwright.floor; ceilings cached per GPU)."""

    task: Task
    device: str
    cache_dir: str | None
    use_cache: bool = True
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S

    def run(self) -> FloorInfo:
        from tritonwright.floor import measure_floor

        return measure_floor(self.task, self.device, self.cache_dir, self.use_cache)


@dataclass(frozen=True)
class InductorSeedJob:
    """torch.compile's generated Triton code for the task, made on the worker's GPU (tritonwright.inductor_seed):
    on the slot that times the task's candidates, so it never runs beside their timing."""

    task: Task
    device: str
    workdir: str | None = None
    label: str = ""
    timeout_s: float = _DEFAULT_TIMEOUT_S

    def run(self) -> SeedOutcome:
        from tritonwright.inductor_seed import try_seed

        return try_seed(self.task, self.device, self.workdir)


@dataclass(frozen=True)
class HealthJob:
    """A tiny Triton kernel with a known result, in a fresh child (executors.health)."""

    device: str
    label: str = "health check"
    timeout_s: float = _HEALTH_TIMEOUT_S

    def run(self) -> dict[str, Any]:
        import threading

        from tritonwright.executors.health import check

        # The evaluations' fork server starts beside the check, not before it: reaching it imports torch in
        # this process (~4 s of an H200 host's 9 s worker start were that import, then the check's own 5 s).
        head_start = threading.Thread(target=_prestart, args=(self.device,), name="prestart", daemon=True)
        head_start.start()
        try:
            return check(self.device)
        finally:
            head_start.join()  # the server is up (or known to be unreachable) when the worker reports started


def _prestart(device: str) -> None:
    from tritonwright.eval.runner import prestart

    prestart(device)  # never raises: a head start only


# --- building jobs (the driver side) -----------------------------------------------------------------------


def _eval_budget_s(config: EvalConfig, candidates: int) -> float:
    per = config.load_timeout_s + config.trials * 3 * config.correctness_timeout_s + 3 * config.timing_timeout_s
    return _TIMEOUT_MARGIN * (config.load_timeout_s + candidates * per + config.timing_timeout_s)


def evaluate_job(task: Task, candidates: list[Candidate], config: EvalConfig, label: str = "") -> EvaluateJob:
    return EvaluateJob(task, list(candidates), config, label, _eval_budget_s(config, len(candidates)))


def screen_job(task: Task, candidates: list[Candidate], config: EvalConfig, label: str = "",
               cutoff_ms: float | None = None) -> ScreenJob:
    """Time many candidates without checking them (the tuner's ranking); every step still has its timeout."""
    per = config.load_timeout_s + config.timing_timeout_s
    return ScreenJob(task, list(candidates), config, label,
                     _TIMEOUT_MARGIN * (2 * config.load_timeout_s + config.correctness_timeout_s
                                        + len(candidates) * per), cutoff_ms)


def compare_job(task: Task, a: Candidate, b: Candidate, config: EvalConfig, threshold: float, rounds: int,
                repeats: int = 1, label: str = "") -> CompareJob:
    budget = _TIMEOUT_MARGIN * (3 * config.load_timeout_s + 2 * config.correctness_timeout_s
                                + repeats * 2 * config.timing_timeout_s)
    return CompareJob(task, a, b, config, threshold, rounds, repeats, label, budget)


def profile_job(task: Task, candidate: Candidate, settings: Any, label: str = "") -> ProfileJob:
    return ProfileJob(task, candidate, settings, label, _TIMEOUT_MARGIN * float(settings.timeout_s) + 60.0)


def floor_job(task: Task, device: str, cache_dir: str | None, use_cache: bool = True, label: str = "") -> FloorJob:
    """The task's speed-of-light floor on the worker's GPU (tritonwright.floor; ceilings cached per GPU)."""
    from tritonwright.floor import FLOOR_TIMEOUT_S

    return FloorJob(task, device, cache_dir, use_cache, label, _TIMEOUT_MARGIN * FLOOR_TIMEOUT_S)


def inductor_seed_job(task: Task, device: str, workdir: str | None = None, label: str = "") -> InductorSeedJob:
    from tritonwright.inductor_seed import DEFAULT_TIMEOUT_S

    return InductorSeedJob(task, device, workdir, label, _TIMEOUT_MARGIN * DEFAULT_TIMEOUT_S)


def health_job(device: str) -> HealthJob:
    return HealthJob(device)
