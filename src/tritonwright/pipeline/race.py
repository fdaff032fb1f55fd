"""The race against torch.compile: when a timed run's best is not clearly faster than torch.compile after its
stages, torch.compile's own generated Triton code (the Inductor seed, tritonwright/inductor_seed) is made and
checked like any candidate, its launches are tuned, and the result is A/B-timed against the best; it takes
over only when measurably faster. The report then says the best is torch.compile's code, and why.

Three rows, each replayed by a resumed run: RACE_CHECK_KEY (the code made and checked), RACE_TUNE_KEY (the
launch tuner on it, unless it is at the floor) and RACE_KEY (the A/B verdict against the best).

Why: a tuned candidate at the copy floor can still lose to torch.compile by a few per cent through what its
launch settings cannot change (the ELU example syncs the host on every call: 0.98x on an H200); and where the
best ties torch.compile, torch.compile's code tuned further can pass both (softmax example: +10.5 % over it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.defaults import KEEP_THRESHOLD
from tritonwright.eval.types import EvalResult, KernelShare
from tritonwright.pipeline.seams import Rival
from tritonwright.pipeline.stage_plan import LAUNCH
from tritonwright.pipeline.steps import StepRecorder, diff_from
from tritonwright.pipeline.trials import Trials
from tritonwright.pipeline.verdict import KeepRevert
from tritonwright.seams import Tuner
from tritonwright.store import AttemptRecord

RACE_CHECK_KEY = "race:inductor:check"  # torch.compile's code, made and checked
RACE_TUNE_KEY = "race:inductor:tune"  # the launch tuner on it
RACE_KEY = "race:inductor"  # the A/B verdict against the best: KEEP makes it the best
RACE_STAGE = "race"  # the stage name the report shows for the three rows
INDUCTOR_ORIGIN = "inductor"  # the origin of torch.compile's code (inductor_seed.ORIGIN)
# A best less than the keep threshold faster than torch.compile is a tie within noise, which torch.compile's
# code tuned further can break (the softmax example's tuned code tied it on an H200; tuned, its code was
# 10.5 % faster); a best that clear of it has nothing to fear from the race.
RACE_MARGIN = KEEP_THRESHOLD
# Both sides passed every check and torch.compile is the bar the user compares against: faster beyond the
# A/B noise band is enough, without the 2 % margin a change of the user's own code must clear.
RACE_THRESHOLD = 0.0
# The run's second tuner pass, on code Inductor already tuned a little (unbounded, the four kernels of
# conv_mish_bn's code ran past 200 s on an H200; with this budget checked only against the screening, its pass
# took 70 s, as the full checks came after: the tuner now screens within SEARCH_SHARE of it).
RACE_TUNE_BUDGET_S = 45.0


def why_race(best_ms: float | None, compiled_ms: float | None, seed_origin: str | None,
             margin: float = RACE_MARGIN) -> str | None:
    """Why the best races torch.compile's code (slower than it, or ahead by less than `margin`), or None: no
    timing, no baseline, a clear lead, or a run that started from torch.compile's code."""
    if best_ms is None or compiled_ms is None or best_ms <= 0 or compiled_ms <= 0:
        return None
    if seed_origin == INDUCTOR_ORIGIN or best_ms * (1 + margin) <= compiled_ms:
        return None
    ratio = compiled_ms / best_ms
    lead = "" if ratio < 1 else f", less than {margin * 100:g}% ahead"
    return f"the best runs at {ratio:.2f}x torch.compile ({best_ms:.4g} ms vs {compiled_ms:.4g} ms{lead})"


@dataclass(frozen=True)
class RaceOutcome:
    """What the race left: torch.compile's code (tuned or not) when it took over, and its median."""

    kept: Candidate | None = None
    median_ms: float | None = None
    kernels: KernelShare | None = None  # where its GPU time went, from its last full check (None: not known)


class InductorRace:
    """Makes torch.compile's code, checks it, tunes it and A/B-times it against the best (three rows)."""

    def __init__(self, rival: Rival | None, tuner: Tuner | None, steps: StepRecorder, trials: Trials,
                 verdicts: KeepRevert, at_floor: Callable[[float | None], str | None], say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rival, self.tuner, self.steps, self.trials, self.verdicts = rival, tuner, steps, trials, verdicts
        self.at_floor, self.say, self.clock = at_floor, say, clock

    def run(self) -> RaceOutcome:
        done = self.steps.recorded(RACE_KEY)
        if done is not None:  # a resumed run: the recorded verdict stands
            rec, cand = done
            return RaceOutcome(cand, rec.median_ms) if rec.decision == Decision.KEEP and cand else RaceOutcome()
        state, check = self.steps.state, self.steps.recorded(RACE_CHECK_KEY)
        seed = self.steps.recorded("seed")
        why = why_race(state.best_ms, state.compiled_ms, seed[0].origin if seed else None)
        if check is None and (self.rival is None or not self.verdicts.can_time or why is None):
            return RaceOutcome()
        found = self._made(why or "") if check is None else _replayed(check)
        if found is None:
            return RaceOutcome()
        contender, ms, kernels = self._tuned(*found)
        return self._ab(contender, ms, kernels, why or "the race began before this run was resumed")

    def _made(self, why: str) -> tuple[Candidate, float | None, KernelShare | None] | None:
        """torch.compile's code made and checked (the check row); None when it cannot be, or fails."""
        assert self.rival is not None and self.steps.state.best is not None
        self.say(f"race: {why}; making torch.compile's own Triton code to race it")
        t = self.clock()
        code = self.rival.make()
        made_s = self.clock() - t
        self.steps.state.device_s += made_s
        if code.candidate is None:
            self._check_row(Decision.FAILED, f"{why}; torch.compile's generated code could not be made: "
                                             f"{code.reason}", None, None, made_s)
            return None
        cand = Candidate(source=code.candidate.source, origin=INDUCTOR_ORIGIN, parent=self.steps.state.best.id)
        self.say("race: checking torch.compile's code")
        result = self.trials.evaluate(cand)
        if not result.ok:
            self._check_row(Decision.FAILED, f"{why}; torch.compile's generated code fails its check: the best "
                                             "stays", cand, result, made_s)
            return None
        # torch.compile calls cuBLAS/cuDNN for matmuls and convolutions; the user is told, not left to find out
        kept = f" (it keeps non-Triton calls: {', '.join(code.externs)})" if code.externs else ""
        self._check_row(Decision.BASE, f"{why}; torch.compile's generated Triton code passes its check{kept}", cand,
                        result, made_s)
        return cand, result.timing.median_ms if result.timing else None, result.kernels

    def _check_row(self, decision: Decision, reason: str, cand: Candidate | None, result: EvalResult | None,
                   made_s: float) -> None:
        """The row of torch.compile's code: its step is the making and the check, each said in the reason."""
        check_s = result.wall_s if result is not None and result.wall_s else 0.0
        spent = f"made {made_s:.1f} s" + (f", check {check_s:.1f} s" if result is not None else "")
        self.steps.record(AttemptRecord(RACE_CHECK_KEY, RACE_STAGE, INDUCTOR_ORIGIN, decision,
                                        decision_reason=f"{reason} [{spent}]", wall_s=round(made_s + check_s, 3)),
                          cand, result)

    def _tuned(self, code: Candidate, ms: float | None, kernels: KernelShare | None = None
               ) -> tuple[Candidate, float | None, KernelShare | None]:
        """The launch tuner on torch.compile's code (its row); the tuned code when kept, else the code as made,
        with its median and kernel times."""
        done = self.steps.recorded(RACE_TUNE_KEY)
        if done is not None:
            rec, cand = done
            if rec.decision == Decision.KEEP and cand is not None:
                return cand, rec.median_ms, None  # a resumed run: its kernel times were not recorded
            return code, ms, kernels
        if self.tuner is None:
            return code, ms, kernels
        at_floor = self.at_floor(ms)
        if at_floor is not None:
            self.say(f"race: launch tuner skipped, {at_floor}")
            self.steps.skip(RACE_TUNE_KEY, RACE_STAGE, "floor", at_floor)
            return code, ms, kernels
        self.say("race: launch tuner on torch.compile's code")
        report = self.tuner(code, LAUNCH, ms, RACE_TUNE_BUDGET_S, ab=False, kernels=kernels)  # the race's A/B decides
        tuned, tuned_ms = self.steps.record_tuning(RACE_TUNE_KEY, RACE_STAGE, code, report)
        return (tuned, tuned_ms, report.tuned_kernels) if tuned is not None else (code, ms, kernels)

    def _ab(self, contender: Candidate, ms: float | None, kernels: KernelShare | None, why: str) -> RaceOutcome:
        """The A/B verdict: torch.compile's code (as tuned) against the best, at RACE_THRESHOLD."""
        best = self.steps.state.best
        assert best is not None
        self.say("race: A/B timing against the best")
        verdict = self.verdicts.compare(best, contender, threshold=RACE_THRESHOLD)
        self.steps.state.device_s += verdict.seconds
        what = "torch.compile's generated Triton code" + (", tuned," if contender.origin == "tune" else "")
        if verdict.decision is Decision.KEEP:
            reason = f"{why}; {what} is faster: {verdict.reason}"
        else:
            reason = f"{why}; {what} is not measurably faster ({verdict.reason}): the best stays"
        rec = AttemptRecord(RACE_KEY, RACE_STAGE, contender.origin, verdict.decision, decision_reason=reason,
                            median_ms=ms, diff=diff_from(best, contender), wall_s=round(verdict.seconds, 3))
        rec.speedup_eager, rec.speedup_compiled = self.steps.state.speedups(ms)
        self.steps.record(rec, contender, None)
        return RaceOutcome(contender, ms, kernels) if verdict.decision is Decision.KEEP else RaceOutcome()


def _replayed(check: tuple[AttemptRecord, Candidate | None]
              ) -> tuple[Candidate, float | None, KernelShare | None] | None:
    """A resumed run's torch.compile's code from its check row (None when it failed or was never made)."""
    rec, cand = check
    if rec.decision != Decision.BASE or cand is None:
        return None
    return Candidate(source=cand.source, origin=INDUCTOR_ORIGIN, parent=cand.parent), rec.median_ms, None
