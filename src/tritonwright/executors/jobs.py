"""GPU jobs as plain data, and the one function that runs them wherever a worker lives.

A job names what to do (evaluate, compare, profile, health) and carries its inputs as dataclasses of plain
values (the task's source, the candidates' sources, the settings): no live tensors, no open files. The same
`run_job` runs in-process (`InlineExecutor`), in a local pool worker, or in a Ray actor on another machine.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalConfig
from tritonwright.task import Task

# "sleep" only takes time: the pool's tests use it to kill a worker mid-job without a GPU or a compile.
KINDS = ("evaluate", "screen", "compare", "profile", "health", "floor", "sleep")
_TIMEOUT_MARGIN = 2.0  # a job's own steps have timeouts; the pool's is a backstop for a wedged worker only
_HEALTH_TIMEOUT_S = 240.0  # a cold Triton cache compiles the tiny kernel in seconds; ptxas on a busy host more


@dataclass(frozen=True)
class Job:
    kind: str  # one of KINDS ("sleep" exists for the pool's own tests: a job that only takes time)
    args: dict[str, Any]
    label: str = ""  # "task key: step" for logs and the pool's event list
    timeout_s: float = 3600.0  # the backstop: past it the worker is killed and the job retried

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown job kind {self.kind!r} (expected one of {', '.join(KINDS)})")


class Executor(Protocol):
    """Runs jobs: `call` blocks until the result (or raises what the job raised)."""

    def call(self, job: Job) -> Any: ...


class InlineExecutor:
    """Runs each job in the calling process: `tritonwright eval`-style single runs and most tests."""

    def call(self, job: Job) -> Any:
        return run_job(job)

    def close(self) -> None:
        pass


# --- building jobs (the driver side) -----------------------------------------------------------------------


def _eval_budget_s(config: EvalConfig, candidates: int) -> float:
    per = config.load_timeout_s + config.trials * 3 * config.correctness_timeout_s + 3 * config.timing_timeout_s
    return _TIMEOUT_MARGIN * (config.load_timeout_s + candidates * per + config.timing_timeout_s)


def evaluate_job(task: Task, candidates: list[Candidate], config: EvalConfig, label: str = "") -> Job:
    return Job("evaluate", {"task": task, "candidates": list(candidates), "config": config}, label,
               _eval_budget_s(config, len(candidates)))


def screen_job(task: Task, candidates: list[Candidate], config: EvalConfig, label: str = "") -> Job:
    """Time many candidates without checking them (the tuner's ranking); every step still has its timeout."""
    per = config.load_timeout_s + config.timing_timeout_s
    return Job("screen", {"task": task, "candidates": list(candidates), "config": config}, label,
               _TIMEOUT_MARGIN * (2 * config.load_timeout_s + config.correctness_timeout_s + len(candidates) * per))


def compare_job(task: Task, a: Candidate, b: Candidate, config: EvalConfig, threshold: float, rounds: int,
                repeats: int = 1, label: str = "") -> Job:
    budget = _TIMEOUT_MARGIN * (3 * config.load_timeout_s + 2 * config.correctness_timeout_s
                                + repeats * 2 * config.timing_timeout_s)
    return Job("compare", {"task": task, "a": a, "b": b, "config": config, "threshold": threshold,
                           "rounds": rounds, "repeats": repeats}, label, budget)


def profile_job(task: Task, candidate: Candidate, settings: Any, label: str = "") -> Job:
    return Job("profile", {"task": task, "candidate": candidate, "settings": settings}, label,
               _TIMEOUT_MARGIN * float(settings.timeout_s) + 60.0)


def floor_job(task: Task, device: str, cache_dir: str | None, use_cache: bool = True, label: str = "") -> Job:
    """The task's speed-of-light floor on the worker's GPU (tritonwright.floor; ceilings cached per GPU)."""
    from tritonwright.floor import FLOOR_TIMEOUT_S

    return Job("floor", {"task": task, "device": device, "cache_dir": cache_dir, "use_cache": use_cache}, label,
               _TIMEOUT_MARGIN * FLOOR_TIMEOUT_S)


def health_job(device: str) -> Job:
    return Job("health", {"device": device}, "health check", _HEALTH_TIMEOUT_S)


# --- running jobs (the worker side) ------------------------------------------------------------------------


@dataclass
class ProfileResult:
    """What a profile job brings back: the outcome (with its parsed report) and the metrics JSON."""

    outcome: Any  # tritonwright.profile.collect.ProfileOutcome
    metrics: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def run_job(job: Job) -> Any:
    """Run one job here; returns plain data and raises what the harness raises (TaskError, ...)."""
    a = job.args
    if job.kind == "evaluate":
        from tritonwright.eval.runner import evaluate_many

        return evaluate_many(a["task"], a["candidates"], a["config"])
    if job.kind == "screen":
        from tritonwright.eval.runner import screen_many

        return screen_many(a["task"], a["candidates"], a["config"])
    if job.kind == "compare":
        from tritonwright.eval.runner import compare_repeated

        out = compare_repeated(a["task"], a["a"], a["b"], a["config"], a["threshold"], a["rounds"],
                               repeats=a["repeats"])
        return out if a["repeats"] > 1 else out[0]
    if job.kind == "profile":
        return _profile(a["task"], a["candidate"], a["settings"])
    if job.kind == "health":
        from tritonwright.executors.health import check

        return check(a["device"])
    if job.kind == "floor":
        from tritonwright.floor import measure_floor

        return measure_floor(a["task"], a["device"], a["cache_dir"], a["use_cache"])
    time.sleep(float(a.get("seconds", 1.0)))  # "sleep"
    return {"slept": float(a.get("seconds", 1.0)), "value": a.get("value")}


def _profile(task: Task, candidate: Candidate, settings: Any) -> ProfileResult:
    from tritonwright.profile.collect import profile_candidate
    from tritonwright.profile.render import render_metrics_json

    with tempfile.TemporaryDirectory(prefix="tritonwright-prof-") as tmp:
        path = Path(tmp) / f"candidate_{candidate.id}.py"
        path.write_text(candidate.source)
        outcome = profile_candidate(task, str(path), settings)
    metrics = render_metrics_json(outcome.report) if outcome.ok and outcome.report is not None else None
    return ProfileResult(outcome, metrics, list(outcome.notes))
