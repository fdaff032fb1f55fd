"""One task through the whole loop: seed -> repair -> four stages (profile, early exit, candidate, check,
keep/revert) -> final check -> best.py and reports.

Every step has a deterministic key and is recorded in the run store as it finishes; a resumed run finds
recorded steps by key and replays their decisions instead of doing them again.

This module is the stage loop; the parts it drives each have their own module: the LLM exchange
(pipeline/exchange.py), the step recorder (steps.py), evaluations and the choice among K answers
(trials.py), the seed and its repairs (seed_repair.py), the keep/revert decision (verdict.py), the stop at the
floor (floor_stop.py) and which paths a stage takes (stage_plan.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.defaults import KEEP_THRESHOLD, STAGES
from tritonwright.errors import one_line
from tritonwright.eval.types import EvalResult, KernelShare
from tritonwright.floor import ratio_to_floor
from tritonwright.gpus.spec import GpuSpec
from tritonwright.pipeline.exchange import SYSTEM_PROMPT, LlmExchange
from tritonwright.pipeline.floor_stop import FloorGuard
from tritonwright.pipeline.race import InductorRace
from tritonwright.pipeline.seams import Comparer, Evaluator, FloorProbe, NoProfiler, Profile, Profiler, Rival
from tritonwright.pipeline.seed_repair import SeedAndRepair
from tritonwright.pipeline.stage_plan import TUNER_STAGES_WITHOUT_LLM, StagePlan, plan_stage
from tritonwright.pipeline.steps import StepRecorder, TaskState, diff_from
from tritonwright.pipeline.trials import Trials
from tritonwright.pipeline.verdict import KeepRevert
from tritonwright.seams import LLM, Clock, Tuner
from tritonwright.store import AttemptRecord, RunStore
from tritonwright.task import Task

__all__ = ["DEFAULT_FLOOR_STOP", "DEFAULT_MAX_REPAIRS", "DEFAULT_THRESHOLD", "FINAL_SEED_OFFSET", "SYSTEM_PROMPT",
           "TUNER_STAGES_WITHOUT_LLM", "Events", "OptimizeConfig", "QuietEvents", "TaskOptimizer", "TaskOutcome",
           "best_file_header"]

DEFAULT_MAX_REPAIRS = 5  # the seed system's budget: errors still there after five tries are rarely fixed
DEFAULT_THRESHOLD = KEEP_THRESHOLD  # the one keep/revert threshold (tritonwright/defaults.py says why)
# Stop within 5% of the speed-of-light floor: on an H200 the seed ELU sat at 1.03x and torch.compile at 1.00x
# of it, and no tuner config or rewrite there was >= 2% faster beyond noise (bench/results/2026-11-22-H200).
DEFAULT_FLOOR_STOP = 0.05
FINAL_SEED_OFFSET = 1000  # the final check draws inputs never seen while optimizing
# A final median this much slower than the figure the best was kept at is timed once more in a fresh session:
# one process's figure can be off (an H200 layernorm run kept torch.compile's code at 0.0700 ms in its A/B, then
# its final check timed 0.0961 ms, and eight fresh evaluations of that code gave 0.077-0.125 ms); 10 % is
# well above the 0.5-2 % noise of agreeing figures.
FINAL_AGREE = 0.10


@dataclass(frozen=True)
class OptimizeConfig:
    stages: tuple[str, ...] = STAGES
    style: str = "compact"  # the seeds' shorter stage text; verbose is seed 003's
    max_repairs: int = DEFAULT_MAX_REPAIRS
    threshold: float = DEFAULT_THRESHOLD
    candidates: int = 1  # LLM answers per seed/stage prompt; the best correct one competes
    timed: bool = True  # False on CPU: correctness only, no keep decisions on speed
    floor_stop: float = DEFAULT_FLOOR_STOP  # skip stages and tuner this close to the floor; 0: off
    race: bool = True  # a best not clearly ahead of torch.compile races torch.compile's code (pipeline/race.py)


class Events(Protocol):
    def step(self, task_key: str, text: str) -> None: ...
    def best(self, task_key: str, speedup: float | None) -> None: ...


class QuietEvents:
    def step(self, task_key: str, text: str) -> None:
        pass

    def best(self, task_key: str, speedup: float | None) -> None:
        pass


@dataclass
class TaskOutcome:
    key: str
    status: str  # done | failed
    error: str | None = None
    best: Candidate | None = None
    final: EvalResult | None = None
    files: list[Path] = field(default_factory=list)


class TaskOptimizer:
    """Runs one task: the seed and its repairs, each stage's paths (LLM, tuner), the final check. Every
    outside thing comes in through the constructor."""

    def __init__(self, *, key: str, task: Task, store: RunStore, run_id: str, config: OptimizeConfig,
                 evaluator: Evaluator, comparer: Comparer | None, profiler: Profiler, llm: LLM | None,
                 gpu: GpuSpec, kind: str, events: Events | None = None, tuner: Tuner | None = None,
                 floor: FloorProbe | None = None, rival: Rival | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.key, self.task, self.store, self.run_id, self.cfg = key, task, store, run_id, config
        self.profiler, self.llm, self.tuner, self.gpu, self.kind = profiler, llm, tuner, gpu, kind
        self.events = events or QuietEvents()
        self.clock = clock
        self.state = TaskState()
        self.steps = StepRecorder(store, run_id, key, self.state)
        self.trials = Trials(evaluator, config.timed, self.steps)
        self.exchange = None if llm is None else LlmExchange(llm, store, run_id, key, config.candidates)
        self.verdicts = KeepRevert(comparer, config.timed, config.threshold, clock)
        self.floor_guard = FloorGuard(floor, self.steps, config.timed, config.floor_stop, self._say)
        self.race = InductorRace(rival if config.race else None, tuner, self.steps, self.trials, self.verdicts,
                                 self.floor_guard.why_at, self._say, clock)
        self.seeding = SeedAndRepair(task=task, gpu=gpu, kind=kind, max_repairs=config.max_repairs,
                                     steps=self.steps, trials=self.trials, exchange=self.exchange, say=self._say)

    @property
    def device_s(self) -> float:
        """Seconds the device worked for this task: evaluations, profiles, tuning, A/B, the floor."""
        return self.state.device_s

    def _say(self, text: str) -> None:
        self.events.step(self.key, text)

    def _accept(self, cand: Candidate, ms: float | None, kernels: KernelShare | None = None) -> None:
        self.state.best, self.state.best_ms, self.state.best_kernels = cand, ms, kernels
        self.events.best(self.key, self.state.speedups(ms)[0])

    # --- the loop --------------------------------------------------------------------------------------

    def run(self, start: Candidate | None) -> TaskOutcome:
        t0 = self.clock()
        current, result = self.seeding.seed(start)
        current, result = self.seeding.repair_loop(current, result)
        if current is None or result is None or not result.ok:
            why = result.reason if result is not None else "no candidate could be produced"
            status = result.status.value if result is not None else "FAILED"
            return TaskOutcome(self.key, "failed", f"no correct candidate ({status}): {one_line(why)[:300]}")
        self._accept(current, result.timing.median_ms if result.timing else self.state.best_ms, result.kernels)
        self.state.device_s += self.floor_guard.measure(result)
        for stage in self.cfg.stages:
            self._stage(stage)
        self._race()
        final = self._final()
        self._record_best(final, self.clock() - t0)
        return TaskOutcome(self.key, "done", best=self.state.best, final=final)

    def _record_best(self, final: EvalResult | None, wall_s: float) -> None:
        """The task's row: the best candidate, its final timing and speedups, wall and device time."""
        ms = final.timing.median_ms if final and final.timing else None
        e, c = self.state.speedups(ms)
        best: dict[str, Any] = {"candidate_id": self.state.best_id, "median_ms": ms,
                                "speedup_eager": e, "speedup_compiled": c,
                                "source": self.state.best.source if self.state.best else ""}
        info = self.floor_guard.info
        if info is not None and info.available:
            best["vs_floor"] = ratio_to_floor(best["median_ms"], info.floor)  # 1.0: at the floor
        # GPU time only means something on a GPU; a CPU run's interpreter time is not reported as such.
        self.steps.update_task(best=best, wall_s=round(wall_s, 3),
                               gpu_s=round(self.state.device_s, 3) if self.cfg.timed else None)

    def _stage(self, stage: str) -> None:
        """Profile, early exit, then the LLM path and/or the tuner path. Each path ends in exactly one row
        under its own key, which is how a resumed run knows it is done and replays its decision."""
        plan = plan_stage(stage, self.cfg.stages, self.exchange is not None, self.tuner is not None)
        if self.steps.recorded(plan.skip_key) is not None:
            return
        if plan.tuned_elsewhere:
            if not self.floor_guard.stop(stage, [plan.skip_key]):
                self.steps.skip(plan.skip_key, stage, "tuner", f"the launch tuner searched every axis (tile sizes, "
                                f"warps, stages) at {plan.launch_at}: nothing left for this stage")
            return
        if not plan.uses_llm and not plan.uses_tuner:
            self.steps.skip(plan.skip_key, stage, "none", "needs an LLM (no --llm given) and the tuner does not "
                                                          "serve this stage")
            return
        pending = self._pending_paths(plan)
        # At the floor nothing is left to gain: one row per stage (per path when one path already ran).
        if not pending or self.floor_guard.stop(stage, [plan.skip_key] if len(pending) == plan.paths else pending):
            return
        if not isinstance(self.profiler, NoProfiler):  # a run without ncu says nothing of profiling
            self._say(f"{stage}: profiling")
        assert self.state.best is not None
        prof = self.profiler.profile(self.state.best, stage)
        self.state.device_s += prof.wall_s
        decision = _early_exit(prof, stage)
        if decision is not None and decision.skip:
            far = self.floor_guard.why_far()
            if far is None:
                self.steps.skip(plan.skip_key, stage, "rules", decision.reason, prof.metrics)
                return
            self._say(f"{stage}: runs although its metrics rule would skip it ({decision.reason}): {far}")
        if plan.llm_key in pending:
            self._llm_stage(stage, prof)
        if plan.tune_key in pending and not self.floor_guard.stop(stage, [plan.tune_key]):
            self._tune_stage(plan, prof)  # the LLM's change may have reached the floor: checked just before

    def _pending_paths(self, plan: StagePlan) -> list[str]:
        """The stage's paths not yet recorded; a recorded path's KEEP is replayed."""
        pending = []
        for path_key, used in ((plan.llm_key, plan.uses_llm), (plan.tune_key, plan.uses_tuner)):
            done = self.steps.recorded(path_key) if used else None
            if done is not None:  # replay a finished path's decision
                rec, cand = done
                if rec.decision == Decision.KEEP and cand is not None:
                    self._accept(cand, rec.median_ms)
            elif used:
                pending.append(path_key)
        return pending

    def _llm_stage(self, stage: str, prof: Profile) -> None:
        from tritonwright.prompts.render import render_optimization_prompt

        assert self.state.best is not None and self.exchange is not None
        self._say(f"{stage}: asking the LLM")
        prompt = render_optimization_prompt(gpu=self.gpu, stage=stage, kind=self.kind, code=self.state.best.source,
                                            metrics=prof.metrics, style=self.cfg.style)
        key = f"stage:{stage}:llm"
        answers = self.exchange.ask_many(key, prompt)
        self._say(f"{stage}: evaluating")
        cand, result, usage, failure = self.trials.pick(key, stage, f"stage:{stage}", answers, prof)
        if cand is None or result is None:
            self.steps.record(AttemptRecord(key, stage, "llm", Decision.FAILED, reason=failure, llm=usage,
                                            status="REJECTED", metrics_before=prof.metrics,
                                            decision_reason="no usable code"), None, None)
            return
        if not result.ok:  # one repair, then the stage gives up and the current best stays
            self.steps.record(AttemptRecord(f"{key}:first", stage, "llm", Decision.FAILED, llm=usage,
                                            metrics_before=prof.metrics,
                                            decision_reason="fails its check; one repair follows",
                                            diff=diff_from(self.state.best, cand)), cand, result)
            fixed, result, usage, failure = self.seeding.repair_once(f"stage:{stage}:repair", stage, cand, result,
                                                                     record=False)
            if fixed is None or result is None or not result.ok or failure:
                self.steps.record(AttemptRecord(key, stage, "llm", Decision.FAILED, llm=usage, reason=failure,
                                                metrics_before=prof.metrics, status="REJECTED" if failure else None,
                                                decision_reason="the repaired candidate fails too: best kept"),
                                  None if failure else fixed, None if failure else result)
                return
            cand = fixed
        self._decide(key, stage, cand, result, usage, prof)

    def _decide(self, key: str, stage: str, cand: Candidate, result: EvalResult, usage: dict[str, Any] | None,
                prof: Profile) -> None:
        """The A/B verdict on an LLM's correct change: kept only when significantly faster."""
        assert self.state.best is not None
        if self.verdicts.can_time:
            self._say(f"{stage}: A/B timing")
        verdict = self.verdicts.compare(self.state.best, cand)
        self.state.device_s += verdict.seconds
        # the step's seconds: its evaluation and its A/B
        self.steps.record(AttemptRecord(key, stage, "llm", verdict.decision, decision_reason=verdict.reason,
                                        llm=usage, metrics_before=prof.metrics, diff=diff_from(self.state.best, cand),
                                        wall_s=round((result.wall_s or 0.0) + verdict.seconds, 3)), cand, result)
        if verdict.decision is Decision.KEEP:
            self._accept(cand, result.timing.median_ms if result.timing else None, result.kernels)

    def _race(self) -> None:
        """A best not clearly faster than torch.compile races torch.compile's own code (pipeline/race.py)."""
        outcome = self.race.run()
        if outcome.kept is not None:
            self._accept(outcome.kept, outcome.median_ms, outcome.kernels)

    def _tune_stage(self, plan: StagePlan, prof: Profile) -> None:
        assert self.state.best is not None and self.tuner is not None
        stage = plan.stage
        self._say(f"{stage}: launch tuner")
        # the best's median is known, and where its GPU time went when its evaluation said so
        report = self.tuner(self.state.best, plan.tuner_stage, self.state.best_ms, kernels=self.state.best_kernels)
        cand, ms = self.steps.record_tuning(plan.tune_key, stage, self.state.best, report, prof.metrics)
        if cand is not None:
            self._accept(cand, ms, report.tuned_kernels)  # a later pass orders its kernels by these times

    def _final(self) -> EvalResult | None:
        assert self.state.best is not None
        done = self.steps.recorded("final")
        if done:
            rec, _ = done
            return EvalResult.from_dict(rec.result) if rec.result else None
        self._say("final check")
        seed = self.trials.seed + FINAL_SEED_OFFSET
        have = self.state.eager is not None or self.state.compiled is not None
        # The baselines measured at the seed stand for this run: timing them again on the final inputs would
        # compile the reference once more (10-15 s) to time the same operations on other random values.
        result = self.trials.evaluate(self.state.best, baselines=not have, seed=seed)
        result = self._confirm_final(result, seed)
        if have and self.cfg.timed and result.ok:
            result.eager, result.compiled = self.state.eager, self.state.compiled
            result.notes.append("baselines: measured at the seed evaluation of this run, same device")
        decision = Decision.KEEP if result.ok else Decision.FAILED
        rec = AttemptRecord("final", "final", self.state.best.origin, decision,
                            decision_reason=("the best candidate failed its final check" if not result.ok else
                                             "fresh inputs, timed against both baselines" if self.cfg.timed else
                                             "fresh inputs, correctness only (timing needs a GPU)"))
        self.steps.record(rec, self.state.best, result)
        return result

    def _confirm_final(self, result: EvalResult, seed: int) -> EvalResult:
        """A final figure that contradicts the one the best was kept at is timed again in a fresh session: of
        the three figures the middle one stands, shown with the evaluation nearest it, and a note gives all three.
        A second evaluation that fails its check is the final verdict (fresh inputs found a fault)."""
        best, kept = self.state.best, self.state.best_ms
        first = result.timing.median_ms if result.ok and result.timing else None
        if best is None or kept is None or first is None or first <= kept * (1 + FINAL_AGREE):
            return result
        self._say(f"final check: {first:.4g} ms against {kept:.4g} ms when kept; timing it again")
        again = self.trials.evaluate(best, baselines=False, seed=seed + 1)
        if not again.ok:
            return again
        if again.timing is None:
            return result
        second = again.timing.median_ms
        middle = sorted((kept, first, second))[1]
        chosen = min((result, again), key=lambda r: abs(r.timing.median_ms - middle) if r.timing else math.inf)
        if chosen is again:  # the baselines and floor the first evaluation measured stay with the verdict
            again.eager, again.compiled = again.eager or result.eager, again.compiled or result.compiled
            again.floor = again.floor or result.floor
        chosen.notes.append(f"final timing checked twice: {first:.4g} ms, then {second:.4g} ms in a fresh session, "
                            f"against {kept:.4g} ms when the best was kept; shown: the evaluation nearest the middle "
                            "figure of the three")
        return chosen

    def evaluator_seed(self) -> int:
        return self.trials.seed


def _early_exit(prof: Profile, stage: str) -> Any:
    if prof.report is None:
        return None
    from tritonwright.profile.rules import decide_stage

    return decide_stage(prof.report, stage)


def best_file_header(task: Task, gpu: str, run_id: str, final: EvalResult | None) -> str:
    """A comment block for best.py: what it solves, where it was measured, how fast."""
    lines = [f"# tritonwright best candidate for {task.path}", f"# run {run_id}, GPU {gpu}"]
    if final is not None and final.ok and final.timing:
        se, sc = final.speedup_eager, final.speedup_compiled
        lines.append(f"# median {final.timing.median_ms:.4f} ms; speedup vs eager "
                     f"{'-' if se is None else f'{se:.2f}x'}, vs torch.compile {'-' if sc is None else f'{sc:.2f}x'}")
    elif final is not None:
        lines.append(f"# final check: {final.status.value}" + (f" ({final.timing_note})" if final.timing_note else ""))
    if task.overrides:
        lines.append("# sizes overridden: " + ", ".join(f"{k}={v}" for k, v in task.overrides.items()))
    return "\n".join(lines) + "\n"
