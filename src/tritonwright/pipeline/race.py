"""The race against torch.compile: when a timed run's best is still slower than torch.compile after its stages,
torch.compile's own generated Triton code (the Inductor seed, tritonwright/inductor_seed) is made, checked
like any candidate and A/B-timed against the best; it takes over only when measurably faster. The report
then says the best is torch.compile's code, and why.

A tuned candidate at the copy floor can still lose to torch.compile by a few per cent through what its
launch settings cannot change (the ELU example syncs the host on every call: 0.98x on an H200); no launch
config closes that, but the user still gets the fastest verified Triton code there is for the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult
from tritonwright.pipeline.seams import Rival
from tritonwright.pipeline.steps import StepRecorder
from tritonwright.pipeline.trials import Trials
from tritonwright.pipeline.verdict import KeepRevert
from tritonwright.store import AttemptRecord

RACE_KEY = "race:inductor"  # the race's row; a resumed run replays its decision
RACE_TUNE_KEY = "race:inductor:tune"  # the launch tuner on torch.compile's code once it has won
RACE_STAGE = "race"  # the stage name the report shows for both rows
INDUCTOR_ORIGIN = "inductor"  # the origin of torch.compile's code (inductor_seed.ORIGIN, not imported: torch-free)
# Both sides passed every check and torch.compile is the bar the user compares against: faster beyond the
# A/B noise band is enough, without the 2 % margin a change of the user's own code must clear.
RACE_THRESHOLD = 0.0
# The run's second tuner pass, on code torch.compile already tuned a little: 45 s of search found the softmax
# example's +10.5 % on an H200 (50 s in all), while four kernels of conv_mish_bn's code ran past 100 s unbounded.
RACE_TUNE_BUDGET_S = 45.0


@dataclass(frozen=True)
class RaceOutcome:
    """What the race did: whether torch.compile's code took over, and its median when it did."""

    ran: bool
    kept: Candidate | None = None
    median_ms: float | None = None


def why_race(best_ms: float | None, compiled_ms: float | None, seed_origin: str | None) -> str | None:
    """Why the best must race torch.compile's code (it is measured slower), or None: no timing, no baseline,
    or the run started from torch.compile's code already."""
    if best_ms is None or compiled_ms is None or best_ms <= 0 or compiled_ms <= 0:
        return None
    if seed_origin == INDUCTOR_ORIGIN:
        return None
    if best_ms <= compiled_ms:  # any measured deficit counts: the promise is at least torch.compile's speed
        return None
    return (f"the best runs at {compiled_ms / best_ms:.2f}x torch.compile ({best_ms:.4g} ms vs "
            f"{compiled_ms:.4g} ms)")


class InductorRace:
    """Makes torch.compile's code, checks it, and A/B-times it against the best (one row under RACE_KEY)."""

    def __init__(self, rival: Rival | None, steps: StepRecorder, trials: Trials, verdicts: KeepRevert,
                 say: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.rival, self.steps, self.trials, self.verdicts, self.say = rival, steps, trials, verdicts, say
        self.clock = clock

    def run(self) -> RaceOutcome:
        done = self.steps.recorded(RACE_KEY)
        if done is not None:  # a resumed run: the recorded decision stands
            rec, cand = done
            kept = cand if rec.decision == Decision.KEEP and cand is not None else None
            return RaceOutcome(True, kept, rec.median_ms if kept else None)
        state = self.steps.state
        seed = self.steps.recorded("seed")
        why = why_race(state.best_ms, state.compiled_ms, seed[0].origin if seed else None)
        if self.rival is None or not self.verdicts.can_time or why is None or state.best is None:
            return RaceOutcome(False)
        best = state.best
        self.say(f"race: {why}; making torch.compile's own Triton code to race it")
        t = self.clock()
        code = self.rival.make()
        state.device_s += self.clock() - t
        if code.candidate is None:
            self._failed(f"{why}; torch.compile's generated code could not be made: {code.reason}", None, None)
            return RaceOutcome(True)
        cand = Candidate(source=code.candidate.source, origin=INDUCTOR_ORIGIN, parent=best.id)
        self.say("race: evaluating torch.compile's code")
        result = self.trials.evaluate(cand)
        if not result.ok:
            self._failed(f"{why}; torch.compile's generated code fails its check: the best stays", cand, result)
            return RaceOutcome(True)
        self.say("race: A/B timing against the best")
        verdict = self.verdicts.compare(best, cand, threshold=RACE_THRESHOLD)
        state.device_s += verdict.seconds
        if verdict.decision is Decision.KEEP:
            reason = f"{why}; torch.compile's generated Triton code is faster: {verdict.reason}"
        else:
            reason = f"{why}; torch.compile's generated Triton code is not measurably faster ({verdict.reason})"
        rec = AttemptRecord(RACE_KEY, RACE_STAGE, INDUCTOR_ORIGIN, verdict.decision, decision_reason=reason)
        self.steps.record(rec, cand, result)
        if verdict.decision is not Decision.KEEP:
            return RaceOutcome(True)
        return RaceOutcome(True, cand, result.timing.median_ms if result.timing else None)

    def _failed(self, reason: str, cand: Candidate | None, result: EvalResult | None) -> None:
        rec = AttemptRecord(RACE_KEY, RACE_STAGE, INDUCTOR_ORIGIN, Decision.FAILED, decision_reason=reason)
        self.steps.record(rec, cand, result)
