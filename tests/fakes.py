"""Fakes for the seams tests share (one place per seam); tests/test_seams.py has mypy check each against its
Protocol (tritonwright/seams.py, tritonwright/pipeline/seams.py).

Executors: `SleepJob`, a job kind only the tests know: it takes time and nothing else, so the pool's tests can
kill a worker mid-job without a GPU or a compile. It has the job interface (label, timeout_s, run()), which
is all the pool, the local worker and the Ray actor ask of a job. Real workers unpickle it by its module path,
`tests.fakes`, so they need the repository root on their path (`python -m` puts the working directory there).

`FakeSlot`, a pool slot with no process: it runs SleepJobs by sleeping, and dies (WorkerLost) or fails its
health check when told to.

Seams of the optimizer and the tuner: `FakeEvaluator`, `FakeComparer`, `FakeTuner`, `FakeLLM`, `FakeClock`,
`FakeProfiler`, `FakeFloor`, `FakeRival`. Each answers from what the test gave it and keeps what it was asked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tritonwright.candidate import Candidate
from tritonwright.errors import TaskError
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult, KernelShare
from tritonwright.executors.faults import WorkerLost

if TYPE_CHECKING:  # imported where used: a pool worker unpickling a SleepJob imports this module, kept light
    from tritonwright.floor import FloorInfo
    from tritonwright.inductor_seed import SeedOutcome
    from tritonwright.llm.types import CallKey, CallParams, LLMReply, Message
    from tritonwright.pipeline.seams import Profile
    from tritonwright.tune.search import TuneReport


@dataclass(frozen=True)
class SleepJob:
    seconds: float = 0.01  # long enough to be seen running, short enough for many per test
    value: Any = None  # handed back, to tell jobs apart
    label: str = ""
    timeout_s: float = 60.0  # the pool's backstop; no test job sleeps near it
    raise_message: str | None = None  # raise a TaskError with this text instead of answering

    def run(self) -> dict[str, Any]:
        time.sleep(self.seconds)
        if self.raise_message:
            raise TaskError(self.raise_message)
        return {"slept": self.seconds, "value": self.value}


class FakeSlot:
    """Runs SleepJobs by sleeping; dies (WorkerLost) on the jobs named in `die_on`, `die_times` times."""

    def __init__(self, name: str, healthy: bool = True, die_on: set[str] | None = None, die_times: int = 1,
                 health_after_crash: bool = True, start_delay: float = 0.0) -> None:
        self.name = name
        self.start_delay = start_delay
        self.healthy = healthy
        self.die_on = die_on or set()
        self.die_times = die_times
        self.health_after_crash = health_after_crash
        self.ran: list[str] = []
        self.starts = 0
        self.stops = 0
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def start(self) -> dict[str, Any]:
        time.sleep(self.start_delay if self.starts == 0 else 0.0)
        self.starts += 1
        ok = self.healthy and (self.starts == 1 or self.health_after_crash)
        return {"ok": ok, "reason": "" if ok else "wrong result: sum 0, expected 42", "device": f"fake {self.name}"}

    def run(self, job: Any, timeout_s: float) -> Any:  # a SleepJob: the fields the fake reads
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            time.sleep(job.seconds)
            if job.label in self.die_on and self.die_times > 0:
                self.die_times -= 1
                raise WorkerLost("the worker died (killed by signal SIGKILL)")
            if job.raise_message:
                raise TaskError(job.raise_message)
            self.ran.append(job.label)
            return {"label": job.label, "slot": self.name}
        finally:
            with self.lock:
                self.running -= 1

    def stop(self) -> None:
        self.stops += 1

    def kill(self) -> None:
        pass

    def pid(self) -> int | None:
        return None


@dataclass
class FakeEvaluator:
    """Evaluator: each candidate's result from `answer`; without one, any evaluation fails the test (a resumed
    run must evaluate nothing). Counts what it evaluated and how (`calls`, `timed`, `seeds`)."""

    answer: Callable[[Candidate], EvalResult] | None = None
    config: EvalConfig = field(default_factory=lambda: EvalConfig(device="cpu"))  # seed 42, as the real one's
    calls: int = 0
    timed: list[bool] = field(default_factory=list)
    seeds: list[int | None] = field(default_factory=list)
    budgets: list[float | None] = field(default_factory=list)  # each evaluate_many's timing budget (None: full)

    def evaluate(self, candidate: Candidate, timed: bool, baselines: bool = False, seed: int | None = None
                 ) -> EvalResult:
        self.calls += 1
        self.timed.append(timed)
        self.seeds.append(seed)
        if self.answer is None:
            raise AssertionError("nothing was to be evaluated here (a recorded step evaluated again?)")
        return self.answer(candidate)

    def evaluate_many(self, candidates: list[Candidate], timed: bool, baselines: bool = False,
                      seed: int | None = None, budget_ms: float | None = None) -> list[EvalResult]:
        self.budgets.append(budget_ms)
        return [self.evaluate(c, timed, baselines, seed) for c in candidates]

    def screen_many(self, candidates: list[Candidate], cutoff_ms: float | None = None) -> list[EvalResult]:
        return [self.evaluate(c, True) for c in candidates]


FASTER = "# faster"  # FakeComparer's marker: a candidate whose source has it wins its A/B


@dataclass
class FakeComparer:
    """Comparer: B wins by 10% (noise 0.5%) when its source holds `marker`, else loses by 4%. Counts calls."""

    marker: str = FASTER
    calls: int = 0
    thresholds: list[float] = field(default_factory=list)  # the threshold of each comparison, in order

    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        self.calls += 1
        self.thresholds.append(threshold)
        if self.marker in b.source:
            return Comparison(1.10, 0.005, True, threshold, 10, reason="10.0% faster, noise 0.5%")
        return Comparison(0.96, 0.005, False, threshold, 10, reason="slower by 4.0% (noise 0.5%)")


@dataclass
class FakeTuner:
    """Tuner: with `tuned_ms`, KEEP of the source plus a `# tuned` line at that median; else REVERT. Keeps the
    stages it was asked for, the original medians and the budgets it was given."""

    tuned_ms: float | None = None
    stages: list[str] = field(default_factory=list)
    originals: list[float | None] = field(default_factory=list)  # the original_ms each call was given
    budgets: list[float | None] = field(default_factory=list)  # the budget_s each call was given
    abs: list[bool] = field(default_factory=list)  # whether each call asked for the tuner's own A/B
    kernels: list[KernelShare | None] = field(default_factory=list)  # the kernel times each call was given
    tuned_kernels: list[KernelShare] = field(default_factory=list)  # call i's tuned code's kernel times, if any

    def __call__(self, candidate: Candidate, stage: str, original_ms: float | None = None,
                 budget_s: float | None = None, ab: bool = True, kernels: KernelShare | None = None) -> TuneReport:
        from tritonwright.decision import Decision
        from tritonwright.tune.search import TuneReport

        self.kernels.append(kernels)
        self.stages.append(stage)
        self.originals.append(original_ms)
        self.budgets.append(budget_s)
        self.abs.append(ab)
        if self.tuned_ms is not None:
            call = len(self.stages) - 1
            return TuneReport(stage, Decision.KEEP, "faster", Candidate(source=candidate.source + "# tuned\n"),
                              tuned_ms=self.tuned_ms, seconds={"screen": 2.0, "screen.timed": 1.0, "ab": 1.5},
                              tuned_kernels=self.tuned_kernels[call] if call < len(self.tuned_kernels) else None)
        return TuneReport(stage, Decision.REVERT, "not significantly faster", candidate)


@dataclass
class FakeLLM:
    """LLM: the reply to a step is `replies[step]` (an LLMReply, or its text); a step with none fails the test
    (a resumed run must ask nothing again). Keeps the steps asked and the messages sent."""

    replies: dict[str, str | LLMReply] = field(default_factory=dict)
    name: str = "fake:coder"
    asked: list[str] = field(default_factory=list)
    prompts: list[list[Message]] = field(default_factory=list)

    def complete(self, messages: Sequence[Message], *, key: CallKey | None = None,
                 params: CallParams | None = None) -> LLMReply:
        from tritonwright.llm.types import LLMReply, ReplyStatus

        step = key.step if key is not None else ""
        self.asked.append(step)
        self.prompts.append(list(messages))
        if step not in self.replies:
            raise AssertionError(f"the LLM was not to be asked for {step!r}")
        reply = self.replies[step]
        if isinstance(reply, LLMReply):
            return reply
        return LLMReply(ReplyStatus.OK, reply, "stop", "fake", "coder", input_tokens=100, output_tokens=50,
                        cost_usd=0.001)

    def check(self) -> str:
        return f"{self.name}: nothing to check (fake)"


@dataclass
class FakeClock:
    """Clock: reads `now`, then moves it by `tick`; `advance` moves it by hand."""

    now: float = 0.0
    tick: float = 0.0

    def __call__(self) -> float:
        t = self.now
        self.now += self.tick
        return t

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeProfiler:
    """Profiler: no metrics (`reason` says why), `wall_s` of device time each; keeps the stages profiled."""

    reason: str = "fake: no metrics"
    wall_s: float = 0.0
    stages: list[str] = field(default_factory=list)

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        from tritonwright.pipeline.seams import Profile

        self.stages.append(stage)
        return Profile(None, None, self.reason, self.wall_s)


@dataclass
class FakeFloor:
    """Floor probe: a memory-bound floor of `ms` found in 2 s of device time; None: no floor. Counts calls."""

    ms: float | None = None
    calls: int = 0

    def floor(self) -> FloorInfo:
        from tritonwright.floor import Floor, FloorInfo

        self.calls += 1
        if self.ms is None:
            return FloorInfo.unavailable("fake: nothing measured")
        return FloorInfo(True, "", Floor(self.ms, self.ms, None, "memory"), wall_s=2.0)


@dataclass
class FakeRival:
    """Rival: torch.compile's code is `source` (None: it cannot be made, `reason` says why). Counts calls."""

    source: str | None = "class ModelNew:  # inductor\n    pass\n"
    reason: str = "fake: no Triton codegen here"
    calls: int = 0
    externs: tuple[str, ...] = ()  # the non-Triton calls the code keeps
    making_s: float = 0.0  # how long making it takes (a real sleep: the race times it on its clock)

    def make(self) -> SeedOutcome:
        import time

        from tritonwright.inductor_seed import SeedOutcome

        self.calls += 1
        time.sleep(self.making_s)
        if self.source is None:
            return SeedOutcome(None, self.reason)
        return SeedOutcome(Candidate(self.source, origin="inductor"), externs=self.externs)
