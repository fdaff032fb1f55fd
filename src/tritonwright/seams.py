"""The seams: what the optimizer and the launch tuner ask of the outside, one Protocol per seam, each stating
every method and attribute its callers use (nothing is probed with getattr).

    Evaluator  correctness and timing of candidates (executors.harness.HarnessEvaluator)
    Comparer   the interleaved A/B timing behind a keep decision (executors.harness.HarnessComparer)
    Tuner      the launch tuner for one stage (pipeline.runner wraps tune.search.tune)
    LLM        the provider the pipeline asks (llm.client.LLMClient, from llm.factory.make_provider)
    Clock      monotonic seconds (time.monotonic)

The real adapters satisfy them structurally; tests/fakes.py holds one fake per seam. Types of the LLM layer
are named for the type checker only, so importing this module does not import the providers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import Comparison, EvalConfig, EvalResult, KernelShare

if TYPE_CHECKING:  # the LLM package imports its providers' code: only the checker needs its types here
    from tritonwright.llm.types import CallKey, CallParams, LLMReply, Message

__all__ = ["LLM", "CheckedConfig", "Clock", "Comparer", "Evaluator", "TuneOutcome", "Tuner"]


class Clock(Protocol):
    """Seconds on a clock that never goes back (time.monotonic): budgets, wall and device time."""

    def __call__(self) -> float: ...


class Evaluator(Protocol):
    """Correctness on fresh inputs and, when `timed`, a TimingStats; several candidates share one session."""

    @property
    def config(self) -> EvalConfig: ...  # its settings; `config.seed` draws the inputs (offsets: fresh ones)

    def evaluate(self, candidate: Candidate, timed: bool, baselines: bool = False, seed: int | None = None
                 ) -> EvalResult: ...

    def evaluate_many(self, candidates: list[Candidate], timed: bool, baselines: bool = False,
                      seed: int | None = None, budget_ms: float | None = None) -> list[EvalResult]:
        """`budget_ms`: a shorter timing than the config's (never a longer one), for a ranking among candidates
        that are all checked in full; the figures a verdict or a report rests on keep the config's."""
        ...

    def screen_many(self, candidates: list[Candidate], cutoff_ms: float | None = None) -> list[EvalResult]:
        """Compile and time each candidate, unchecked: a ranking for the tuner. A candidate slower than
        `cutoff_ms` in its warm-up may be timed from those runs only (it cannot rank among the best)."""
        ...


class Comparer(Protocol):
    def compare(self, a: Candidate, b: Candidate, threshold: float) -> Comparison:
        """Interleaved A/B timing: is `b` significantly faster than `a` by at least `threshold`?"""
        ...


class CheckedConfig(Protocol):
    """One launch config the tuner tried (tune.search.ConfigResult): whether it passed, and its row."""

    @property
    def ok(self) -> bool: ...

    def row(self) -> dict[str, Any]:
        """The config, its phase, timings, checks, error and choice as plain JSON (the run store keeps it)."""
        ...


class TuneOutcome(Protocol):
    """What the pipeline reads of a tuner's report (tune.search.TuneReport)."""

    @property
    def decision(self) -> Decision: ...  # KEEP | REVERT | REFUSED | CHECKED (decision.TUNER_DECISIONS)

    @property
    def reason(self) -> str: ...

    @property
    def candidate(self) -> Candidate: ...  # the tuned code on KEEP or CHECKED, else the original

    @property
    def results(self) -> Sequence[CheckedConfig]: ...

    @property
    def tuned_ms(self) -> float | None: ...

    @property
    def tuned_kernels(self) -> KernelShare | None: ...  # where the tuned code's GPU time went (its full check)

    @property
    def wall_s(self) -> float: ...

    def time_line(self) -> str: ...  # where the time went, on one line ("" when nothing was timed)

    @property
    def notes(self) -> Sequence[str]: ...  # the spaces searched, kernels by GPU time, each screening's seconds


class Tuner(Protocol):
    def __call__(self, candidate: Candidate, stage: str, original_ms: float | None = None,
                 budget_s: float | None = None, ab: bool = True, kernels: KernelShare | None = None) -> TuneOutcome:
        """Tune `candidate`'s launches for `stage` ("launch": every axis at once); `original_ms`: its median
        from the caller's last evaluation, where it passed its check (not evaluated again when timed);
        `budget_s`: the pass's time, no screening past its search share (None: the tuner's default); `ab` False: no
        A/B against the original, the checked tuned code is the outcome (the caller's A/B decides);
        `kernels`: where that evaluation's GPU time went (heaviest kernels are searched first, the lightest that
        together cannot clear the threshold not at all)."""
        ...


class LLM(Protocol):
    """Messages in, an LLMReply out; a failed call is a reply with a status, only user mistakes raise."""

    @property
    def name(self) -> str: ...  # e.g. "openai:gpt-5", shown in logs and reports

    def complete(self, messages: Sequence[Message], *, key: CallKey | None = None,
                 params: CallParams | None = None) -> LLMReply: ...

    def check(self) -> str:
        """Reach the provider once before the first task (raises when it cannot); says what was checked."""
        ...
