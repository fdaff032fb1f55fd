"""A task's starting point and its repairs: the given candidate (yours, or torch.compile's) or an LLM's answer,
then analysis-and-fix rounds until it passes its check or the budget is spent. A stage's failing answer gets
one repair from here too; every failed attempt is kept for the next repair prompt."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalResult
from tritonwright.gpus.spec import GpuSpec
from tritonwright.pipeline.exchange import LlmExchange, code_from
from tritonwright.pipeline.steps import StepRecorder
from tritonwright.pipeline.trials import Trials
from tritonwright.store import AttemptRecord
from tritonwright.task import Task

if TYPE_CHECKING:  # the prompt package loads on the LLM paths only
    from tritonwright.prompts.render import FailedAttempt

NO_START = ("no candidate and no LLM: pass --from CANDIDATE.py (your current ModelNew) or --llm SPEC "
            "(e.g. openai:gpt-5) to write one")

Found = tuple[Candidate | None, EvalResult | None]  # a candidate and its check; None when none came of it


class SeedAndRepair:
    """The seed step and the repair steps of one task (recorded as "seed" and "repair:i")."""

    def __init__(self, *, task: Task, gpu: GpuSpec, kind: str, max_repairs: int, steps: StepRecorder,
                 trials: Trials, exchange: LlmExchange | None, say: Callable[[str], None]) -> None:
        self.task, self.gpu, self.kind, self.max_repairs = task, gpu, kind, max_repairs
        self.steps, self.trials, self.exchange, self.say = steps, trials, exchange, say
        self.history: list[FailedAttempt] = []  # failed repair attempts, for the repair prompt
        self.history_text = ""  # the raw reply when a seed reply held no usable code (the repair's "broken code")
        self.refused = False  # the last repair's request was refused for good by the provider (Answer.refused)

    def seed(self, start: Candidate | None) -> Found:
        done = self.steps.recorded("seed")
        if done:
            rec, cand = done
            return cand, EvalResult.from_dict(rec.result) if rec.result else None
        self.say("seed")
        if start is None:
            return self._seed_from_llm()
        origin = "inductor" if start.origin == "inductor" else "user"
        result = self.trials.evaluate(start, baselines=True)
        why = "seed: torch.compile's generated Triton code" if origin == "inductor" else "starting point"
        self.steps.record(AttemptRecord("seed", "seed", origin, Decision.BASE if result.ok else Decision.FAILED,
                                        llm=None, decision_reason=why if result.ok else f"{why}; fails its check"),
                          start, result)
        return start, result

    def _seed_from_llm(self) -> Found:
        if self.exchange is None:
            raise ValueError(NO_START)
        from tritonwright.prompts.render import render_seed_prompt

        prompt = render_seed_prompt(gpu=self.gpu, kind=self.kind, reference_code=self.task.source)
        answers = self.exchange.ask_many("seed", prompt)
        picked, result, usage, failure = self.trials.pick("seed", "seed", "seed", answers, None, baselines=True)
        if picked is None or result is None:
            self.steps.record(AttemptRecord("seed", "seed", "llm", Decision.FAILED, reason=failure, llm=usage,
                                            status="REJECTED"), None, None)
            self.history_text = answers[0].text or ""
            return None, None
        self.steps.record(AttemptRecord("seed", "seed", "llm", Decision.BASE if result.ok else Decision.FAILED,
                                        llm=usage, decision_reason="starting point" if result.ok else
                                        "fails its check"), picked, result)
        return picked, result

    def repair_loop(self, cand: Candidate | None, result: EvalResult | None) -> Found:
        """Repair until the candidate passes, at most `max_repairs` times; recorded repairs are replayed."""
        i = 1
        while (result is None or not result.ok) and i <= self.max_repairs:
            done = self.steps.recorded(f"repair:{i}")
            if done:
                rec, new = done
                cand, result = (new or cand), (EvalResult.from_dict(rec.result) if rec.result else result)
                i += 1
                continue
            if self.exchange is None:
                return cand, result
            self.say(f"repair {i}/{self.max_repairs}")
            cand, result, _, _ = self.repair_once(f"repair:{i}", "repair", cand, result)
            if self.refused:
                self.say("repair: the LLM refused the request for good (not retryable): no further repair rounds")
                break
            i += 1
        return cand, result

    def repair_once(self, step_key: str, stage: str, cand: Candidate | None, result: EvalResult | None,
                    record: bool = True) -> tuple[Candidate | None, EvalResult | None, dict[str, Any], str]:
        """Analysis call, fix call, evaluation. With `record`, the attempt is stored under `step_key`
        (the repair loop); a stage's repair is stored by the stage under its own key instead.
        Returns (candidate, result, usage, failure reason when the reply held no code)."""
        from tritonwright.prompts.render import FailedAttempt

        assert self.exchange is not None  # only called on the LLM paths
        status = result.status.value if result is not None else "REJECTED"
        log = result.reason if result is not None else "the reply held no usable code"
        broken = cand.source if cand is not None else self.history_text
        text, usage, failure, self.refused = self.exchange.ask_repair(step_key, status=status, log=log,
                                                                      reference=self.task.source, broken=broken,
                                                                      history=self.history, gpu=self.gpu)
        new, failure2 = code_from(text, "repair", self.steps.state.best_id)
        if new is None:
            if record:
                self.steps.record(AttemptRecord(step_key, stage, "llm", Decision.FAILED, reason=failure or failure2,
                                                llm=usage, status="REJECTED"), None, None)
            self.history.append(FailedAttempt("REJECTED", failure or failure2))
            return cand, result, usage, failure or failure2
        new_result = self.trials.evaluate(new, baselines=record)
        if record:
            self.steps.record(AttemptRecord(step_key, stage, "llm", Decision.BASE if new_result.ok else Decision.FAILED,
                                            llm=usage, decision_reason="repaired" if new_result.ok else
                                            "still failing"), new, new_result)
        if not new_result.ok:
            self.history.append(FailedAttempt(new_result.status.value, new_result.reason))
        return new, new_result, usage, ""
