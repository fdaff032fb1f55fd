"""Evaluations of one task's candidates: each one's device time counted, the baselines it brings kept, and of
K answers to one prompt the best correct one chosen (the others recorded as not chosen)."""

from __future__ import annotations

from typing import Any, NamedTuple

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult
from tritonwright.pipeline.exchange import Answer, code_from
from tritonwright.pipeline.seams import Evaluator, Profile
from tritonwright.pipeline.steps import StepRecorder, diff_from
from tritonwright.pipeline.verdict import rank
from tritonwright.store import AttemptRecord


class Picked(NamedTuple):
    """The answer to go on with: its candidate and result (None when no answer held code), its call's usage,
    and why there is none."""

    candidate: Candidate | None
    result: EvalResult | None
    usage: dict[str, Any] | None
    failure: str


class Trials:
    """Runs the task's evaluations on its evaluator; `timed` is False on CPU (correctness only)."""

    def __init__(self, evaluator: Evaluator, timed: bool, steps: StepRecorder) -> None:
        self.evaluator, self.timed, self.steps = evaluator, timed, steps

    @property
    def seed(self) -> int:
        """The evaluator's input seed; the final check offsets it to draw inputs never seen before."""
        return self.evaluator.config.seed

    def evaluate(self, cand: Candidate, baselines: bool = False, seed: int | None = None) -> EvalResult:
        result = self.evaluator.evaluate(cand, timed=self.timed, baselines=baselines and self.timed, seed=seed)
        self.steps.state.device_s += result.wall_s
        self.steps.take_baselines(result)
        return result

    def evaluate_all(self, cands: list[Candidate], baselines: bool = False) -> list[EvalResult]:
        """Several candidates in one session (the same inputs, one process start); one alone as usual."""
        if len(cands) == 1:
            return [self.evaluate(cands[0], baselines=baselines)]
        results = self.evaluator.evaluate_many(cands, timed=self.timed, baselines=baselines and self.timed)
        self.steps.state.device_s += max(r.wall_s for r in results)  # one session: each result carries its wall
        for r in results:
            self.steps.take_baselines(r)
        return results

    def pick(self, key: str, stage: str, origin: str, answers: list[Answer], prof: Profile | None,
             baselines: bool = False) -> Picked:
        """Evaluate every usable answer (one session), keep the best correct one; the others are recorded
        under `key#i` as not chosen."""
        parent = self.steps.state.best_id
        coded = [(code_from(a.text, origin, parent), a.usage, a.failure) for a in answers]
        usable = [(i, c) for i, ((c, _), _, _) in enumerate(coded) if c is not None]
        if not usable:
            (_, why), usage, failure = coded[0]
            return Picked(None, None, usage, failure or why)
        cands = [c for _, c in usable]
        results = self.evaluate_all(cands, baselines=baselines)
        order = rank(results)
        for j in order[1:]:
            i, ok = usable[j][0], results[j].ok
            why = "another answer of the same prompt was better" if ok else "fails its check"
            self.steps.record(AttemptRecord(f"{key}#{i}", stage, "llm", Decision.REVERT if ok else Decision.FAILED,
                                            decision_reason=why, llm=coded[i][1],
                                            metrics_before=prof.metrics if prof else None,
                                            diff=diff_from(self.steps.state.best, cands[j])),
                              cands[j], results[j])
        chosen = order[0]
        return Picked(cands[chosen], results[chosen], coded[usable[chosen][0]][1], "")
