"""One task through the whole loop: seed -> repair -> four stages (profile, early exit, candidate, check,
keep/revert) -> final check -> best.py and reports.

Every step has a deterministic key and is recorded in the run store as it finishes; a resumed run finds
recorded steps by key and replays their decisions instead of doing them again.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tritonwright.candidate import Candidate
from tritonwright.decision import Decision, attempt_decision
from tritonwright.defaults import KEEP_THRESHOLD, STAGES
from tritonwright.eval.types import EvalResult, TimingStats
from tritonwright.floor import FloorInfo, at_floor, ratio_to_floor
from tritonwright.gpus.spec import GpuSpec
from tritonwright.pipeline.seams import Comparer, Evaluator, FloorProbe, Profile, Profiler
from tritonwright.store import AttemptRecord, RunStore
from tritonwright.task import Task

DEFAULT_MAX_REPAIRS = 5  # the seed system's budget: errors still there after five tries are rarely fixed
DEFAULT_THRESHOLD = KEEP_THRESHOLD  # the one keep/revert threshold (tritonwright/defaults.py says why)
# Stop within 5% of the speed-of-light floor: on an H200 the seed ELU sat at 1.03x and torch.compile at 1.00x
# of it, and no tuner config or rewrite there was >= 2% faster beyond noise (bench/results/2026-11-22-H200).
DEFAULT_FLOOR_STOP = 0.05
FINAL_SEED_OFFSET = 1000  # the final check draws inputs never seen while optimizing
TUNER_STAGES_WITHOUT_LLM = ("block_tiling", "memory_access", "advanced_memory")  # stages the tuner can serve
SYSTEM_PROMPT = "You are an expert in writing fast, correct Triton GPU kernels for PyTorch models."


@dataclass(frozen=True)
class OptimizeConfig:
    stages: tuple[str, ...] = STAGES
    style: str = "compact"  # the seeds' shorter stage text; verbose is seed 003's
    max_repairs: int = DEFAULT_MAX_REPAIRS
    threshold: float = DEFAULT_THRESHOLD
    candidates: int = 1  # LLM answers per seed/stage prompt; the best correct one competes
    timed: bool = True  # False on CPU: correctness only, no keep decisions on speed
    floor_stop: float = DEFAULT_FLOOR_STOP  # skip stages and tuner this close to the floor; 0: off


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


@dataclass
class _State:
    best: Candidate | None = None
    best_ms: float | None = None
    eager_ms: float | None = None
    compiled_ms: float | None = None
    eager: TimingStats | None = None  # the baselines' full figures, reused by the final check
    compiled: TimingStats | None = None


class TaskOptimizer:
    """Runs one task; every outside thing comes in through the constructor."""

    def __init__(self, *, key: str, task: Task, store: RunStore, run_id: str, config: OptimizeConfig,
                 evaluator: Evaluator, comparer: Comparer | None, profiler: Profiler, llm: Any | None,
                 gpu: GpuSpec, kind: str, events: Events | None = None,
                 tuner: Callable[..., Any] | None = None, floor: FloorProbe | None = None) -> None:
        self.key, self.task, self.store, self.run_id, self.cfg = key, task, store, run_id, config
        self.evaluator, self.comparer, self.profiler, self.llm = evaluator, comparer, profiler, llm
        self.gpu, self.kind = gpu, kind
        self.events = events or QuietEvents()
        self.tuner = tuner
        self.floor_probe = floor
        self.floor_info: FloorInfo | None = None  # the task's speed-of-light floor, once known
        self.state = _State()
        self.history: list[Any] = []  # failed repair attempts, for the repair prompt
        self.device_s = 0.0  # seconds the device worked for this task: evaluations, profiles, tuning, A/B
        self.history_text = ""  # the raw reply when a seed reply held no usable code (the repair's "broken code")

    # --- helpers ---------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.events.step(self.key, text)

    def _speedups(self, ms: float | None) -> tuple[float | None, float | None]:
        if ms is None:
            return None, None
        e = self.state.eager_ms / ms if self.state.eager_ms else None
        c = self.state.compiled_ms / ms if self.state.compiled_ms else None
        return e, c

    def _record(self, rec: AttemptRecord, cand: Candidate | None, result: EvalResult | None) -> AttemptRecord:
        if cand is not None:
            rec.candidate_id = cand.id
            rec.parent_id = rec.parent_id or cand.parent
            self.store.save_candidate(self.run_id, self.key, cand.id, cand.source)
        if result is not None:
            rec.status = result.status.value
            rec.reason = rec.reason or result.reason
            rec.median_ms = result.timing.median_ms if result.timing else None
            rec.speedup_eager, rec.speedup_compiled = self._speedups(rec.median_ms)
            rec.result = result.to_dict()
            rec.wall_s = rec.wall_s or result.wall_s
        return self.store.record_attempt(self.run_id, self.key, rec)

    def _recorded(self, step_key: str) -> tuple[AttemptRecord, Candidate | None] | None:
        rec = self.store.attempt(self.run_id, self.key, step_key)
        if rec is None:
            return None
        cand = None
        if rec.candidate_id:
            src = self.store.load_candidate(self.run_id, self.key, rec.candidate_id)
            cand = Candidate(source=src, origin=rec.origin, parent=rec.parent_id)
        return rec, cand

    def _diff(self, new: Candidate) -> str | None:
        if self.state.best is None:
            return None
        lines = difflib.unified_diff(self.state.best.source.splitlines(keepends=True),
                                     new.source.splitlines(keepends=True), "best.py", "candidate.py")
        return "".join(lines) or None

    def _evaluate(self, cand: Candidate, baselines: bool = False, seed: int | None = None) -> EvalResult:
        result = self.evaluator.evaluate(cand, timed=self.cfg.timed, baselines=baselines and self.cfg.timed,
                                         seed=seed)
        self.device_s += result.wall_s
        self._take_baselines(result)
        return result

    def _take_baselines(self, result: EvalResult) -> None:
        if result.eager:
            self.state.eager, self.state.eager_ms = result.eager, result.eager.median_ms
        if result.compiled:
            self.state.compiled, self.state.compiled_ms = result.compiled, result.compiled.median_ms
        if result.eager or result.compiled:
            self.store.update_task(self.run_id, self.key, baselines={
                "eager_ms": self.state.eager_ms, "compiled_ms": self.state.compiled_ms,
                "compile_mode": "default"})

    def _accept(self, cand: Candidate, ms: float | None) -> None:
        self.state.best, self.state.best_ms = cand, ms
        self.events.best(self.key, self._speedups(ms)[0])

    # --- LLM calls -------------------------------------------------------------------------------------

    def _call(self, step_key: str, prompt: str, attempt: int) -> tuple[list[Any], Any]:
        """The LLM request alone (safe in a worker thread: it touches no store)."""
        from tritonwright.llm.types import CallKey, CallParams, Message

        messages = [Message.system(SYSTEM_PROMPT), Message.user(prompt)]
        # `sample` keeps K answers to one prompt apart in the response cache; attempt names them for replay.
        assert self.llm is not None  # only called on the LLM paths
        return messages, self.llm.complete(messages, key=CallKey(self.key, step_key, attempt),
                                           params=CallParams(sample=attempt))

    def _note(self, step_key: str, messages: list[Any], reply: Any) -> tuple[str | None, dict[str, Any], str]:
        """Record a finished call (prompt, reply, usage); returns (text or None, usage, failure reason)."""
        self.store.record_llm_call(self.run_id, self.key, step_key, [m.__dict__ for m in messages],
                                   {k: v for k, v in reply.to_dict().items() if k != "exchanges"}
                                   | {"answered": reply.answered})
        usage = {"input_tokens": reply.input_tokens or 0, "output_tokens": reply.output_tokens or 0,
                 "cost_usd": reply.cost_usd, "calls": 1 if reply.answered else 0}
        if not reply.ok:
            return None, usage, f"LLM call failed ({reply.status.value}): {reply.error or reply.finish_reason}"
        return reply.text, usage, ""

    def _ask(self, step_key: str, prompt: str, attempt: int = 0) -> tuple[str | None, dict[str, Any], str]:
        """One LLM call: (text or None, usage for the record, failure reason)."""
        return self._note(step_key, *self._call(step_key, prompt, attempt))

    def _ask_many(self, step_key: str, prompt: str) -> list[tuple[str | None, dict[str, Any], str]]:
        """--candidates K: K independent answers to one prompt, asked concurrently, recorded in order."""
        k = max(1, self.cfg.candidates)
        if k == 1:
            return [self._ask(step_key, prompt)]
        from concurrent.futures import ThreadPoolExecutor

        keys = [step_key if i == 0 else f"{step_key}#{i}" for i in range(k)]
        with ThreadPoolExecutor(max_workers=k) as pool:  # the provider's own limit caps real concurrency
            calls = list(pool.map(lambda i: self._call(keys[i], prompt, i), range(k)))
        return [self._note(keys[i], *calls[i]) for i in range(k)]

    def _pick(self, key: str, stage: str, origin: str, answers: list[tuple[str | None, dict[str, Any], str]],
              prof: Profile | None, baselines: bool = False
              ) -> tuple[Candidate | None, EvalResult | None, dict[str, Any] | None, str]:
        """Evaluate every usable answer (one session), keep the best correct one; the others are recorded
        under `key#i` as not chosen. Returns (candidate, result, usage, failure) of the one to go on with."""
        coded = [(self._code_from(text, origin), usage, failure) for text, usage, failure in answers]
        usable = [(i, c) for i, ((c, _), _, _) in enumerate(coded) if c is not None]
        if not usable:
            (_, why), usage, failure = coded[0]
            return None, None, usage, failure or why
        cands = [c for _, c in usable]
        many = getattr(self.evaluator, "evaluate_many", None)
        if len(cands) > 1 and many is not None:
            results = many(cands, timed=self.cfg.timed, baselines=baselines and self.cfg.timed)
            self.device_s += max(r.wall_s for r in results)  # one session: every result carries its wall time
            for r in results:
                self._take_baselines(r)
        else:
            results = [self._evaluate(c, baselines=baselines) for c in cands]
        order = sorted(range(len(cands)), key=lambda j: (not results[j].ok, _ms(results[j])))
        chosen = order[0]
        for j in order[1:]:
            i = usable[j][0]
            why = "another answer of the same prompt was better" if results[j].ok else "fails its check"
            self._record(AttemptRecord(f"{key}#{i}", stage, "llm", Decision.REVERT if results[j].ok else Decision.FAILED,
                                       decision_reason=why, llm=coded[i][1],
                                       metrics_before=prof.metrics if prof else None, diff=self._diff(cands[j])),
                         cands[j], results[j])
        return cands[chosen], results[chosen], coded[usable[chosen][0]][1], ""

    def _code_from(self, text: str | None, origin: str) -> tuple[Candidate | None, str]:
        from tritonwright.llm.extract import extract_model_code

        if text is None:
            return None, ""
        got = extract_model_code(text)
        if not got.ok:
            return None, got.failure or "no usable code in the reply"
        parent = self.state.best.id if self.state.best else None
        return got.candidate(origin, parent), ""

    # --- steps -----------------------------------------------------------------------------------------

    def run(self, start: Candidate | None) -> TaskOutcome:
        t0 = time.monotonic()
        current, result = self._seed(start)
        current, result = self._repair_loop(current, result)
        if current is None or result is None or not result.ok:
            why = result.reason if result is not None else "no candidate could be produced"
            status = result.status.value if result is not None else "FAILED"
            return TaskOutcome(self.key, "failed", f"no correct candidate ({status}): {why.splitlines()[0][:300]}")
        self._accept(current, result.timing.median_ms if result.timing else self.state.best_ms)
        self._floor()
        for stage in self.cfg.stages:
            self._stage(stage)
        final = self._final()
        outcome = TaskOutcome(self.key, "done", best=self.state.best, final=final)
        wall = round(time.monotonic() - t0, 3)
        e, c = self._speedups(final.timing.median_ms if final and final.timing else None)
        best: dict[str, Any] = {"candidate_id": self.state.best.id if self.state.best else None,
                "median_ms": final.timing.median_ms if final and final.timing else None,
                "speedup_eager": e, "speedup_compiled": c,
                "source": self.state.best.source if self.state.best else ""}
        if self.floor_info is not None and self.floor_info.available:
            best["vs_floor"] = ratio_to_floor(best["median_ms"], self.floor_info.floor)  # 1.0: at the floor
        # GPU time only means something on a GPU; a CPU run's interpreter time is not reported as such.
        self.store.update_task(self.run_id, self.key, best=best, wall_s=wall,
                               gpu_s=round(self.device_s, 3) if self.cfg.timed else None)
        return outcome

    def _seed(self, start: Candidate | None) -> tuple[Candidate | None, EvalResult | None]:
        done = self._recorded("seed")
        if done:
            rec, cand = done
            return cand, EvalResult.from_dict(rec.result) if rec.result else None
        self._say("seed")
        usage = None
        if start is not None:
            cand, origin = start, ("inductor" if start.origin == "inductor" else "user")
        else:
            if self.llm is None:
                raise ValueError("no candidate and no LLM: pass --from CANDIDATE.py (your current ModelNew) or "
                                 "--llm SPEC (e.g. openai:gpt-5) to write one")
            from tritonwright.prompts.render import render_seed_prompt

            prompt = render_seed_prompt(gpu=self.gpu, kind=self.kind, reference_code=self.task.source)
            answers = self._ask_many("seed", prompt)
            origin = "llm"
            picked, picked_result, usage, failure = self._pick("seed", "seed", "seed", answers, None, baselines=True)
            if picked is None or picked_result is None:
                rec = AttemptRecord("seed", "seed", origin, Decision.FAILED, reason=failure, llm=usage, status="REJECTED")
                self._record(rec, None, None)
                self.history_text = answers[0][0] or ""
                return None, None
            rec = AttemptRecord("seed", "seed", origin, Decision.BASE if picked_result.ok else Decision.FAILED, llm=usage,
                                decision_reason="starting point" if picked_result.ok else "fails its check")
            self._record(rec, picked, picked_result)
            return picked, picked_result
        result = self._evaluate(cand, baselines=True)
        why = "seed: torch.compile's generated Triton code" if origin == "inductor" else "starting point"
        rec = AttemptRecord("seed", "seed", origin, Decision.BASE if result.ok else Decision.FAILED, llm=usage,
                            decision_reason=why if result.ok else f"{why}; fails its check")
        self._record(rec, cand, result)
        return cand, result

    def _repair_loop(self, cand: Candidate | None, result: EvalResult | None
                     ) -> tuple[Candidate | None, EvalResult | None]:
        i = 1
        while (result is None or not result.ok) and i <= self.cfg.max_repairs:
            done = self._recorded(f"repair:{i}")
            if done:
                rec, new = done
                cand, result = (new or cand), (EvalResult.from_dict(rec.result) if rec.result else result)
                i += 1
                continue
            if self.llm is None:
                return cand, result
            self._say(f"repair {i}/{self.cfg.max_repairs}")
            cand, result, _, _ = self._repair_once(f"repair:{i}", "repair", cand, result)
            i += 1
        return cand, result

    def _repair_once(self, step_key: str, stage: str, cand: Candidate | None, result: EvalResult | None,
                     record: bool = True) -> tuple[Candidate | None, EvalResult | None, dict[str, Any], str]:
        """Analysis call, fix call, evaluation. With `record`, the attempt is stored under `step_key`
        (the repair loop); a stage's repair is stored by the stage under its own key instead.
        Returns (candidate, result, usage, failure reason when the reply held no code)."""
        from tritonwright.llm.analysis import parse_analysis
        from tritonwright.prompts.render import (
            Analysis,
            FailedAttempt,
            render_analysis_prompt,
            render_repair_prompt,
        )

        status = result.status.value if result is not None else "REJECTED"
        log = result.reason if result is not None else "the reply held no usable code"
        broken = cand.source if cand is not None else self.history_text
        text, usage_a, failure = self._ask(f"analysis:{step_key}", render_analysis_prompt(
            status=status, error_log=log, reference_code=self.task.source, broken_code=broken))
        parsed = parse_analysis(text or "")
        # Without a usable analysis the fix call still gets the error log; the analysis is a hint only.
        analysis = parsed.analysis or Analysis(status, "the analysis reply could not be parsed",
                                               "fix the error in the log")
        prompt = render_repair_prompt(gpu=self.gpu, status=status, error_log=log, reference_code=self.task.source,
                                      broken_code=broken, analysis=analysis, history=self.history)
        text, usage_r, failure = self._ask(step_key, prompt)
        usage = {k: (usage_a.get(k) or 0) + (usage_r.get(k) or 0) for k in ("input_tokens", "output_tokens",
                                                                             "calls")}
        usage["cost_usd"] = (None if usage_a.get("cost_usd") is None or usage_r.get("cost_usd") is None
                             else usage_a["cost_usd"] + usage_r["cost_usd"])
        new, failure2 = self._code_from(text, "repair")
        if new is None:
            if record:
                self._record(AttemptRecord(step_key, stage, "llm", Decision.FAILED, reason=failure or failure2, llm=usage,
                                           status="REJECTED"), None, None)
            self.history.append(FailedAttempt("REJECTED", failure or failure2))
            return cand, result, usage, failure or failure2
        new_result = self._evaluate(new, baselines=record)
        if record:
            self._record(AttemptRecord(step_key, stage, "llm", Decision.BASE if new_result.ok else Decision.FAILED, llm=usage,
                                       decision_reason="repaired" if new_result.ok else "still failing"),
                         new, new_result)
        if not new_result.ok:
            self.history.append(FailedAttempt(new_result.status.value, new_result.reason))
        return new, new_result, usage, ""

    def _stage(self, stage: str) -> None:
        """Profile, early exit, then the LLM path and/or the tuner path. Each path ends in exactly one row
        under its own key, which is how a resumed run knows it is done and replays its decision."""
        llm_key, tune_key, skip_key = f"stage:{stage}:llm", f"stage:{stage}:tune", f"stage:{stage}:skip"
        if self._recorded(skip_key) is not None:
            return
        uses_llm = self.llm is not None
        uses_tuner = self.tuner is not None and (stage == "advanced_memory" or (
            not uses_llm and stage in TUNER_STAGES_WITHOUT_LLM))
        launch_at = self._launch_stage()
        if uses_tuner and launch_at is not None and stage != launch_at:
            if self._floor_stop(stage, [skip_key]):
                return
            self._record(AttemptRecord(skip_key, stage, "tuner", Decision.SKIP,
                                       decision_reason=f"the launch tuner searched every axis (tile sizes, warps, "
                                                       f"stages) at {launch_at}: nothing left for this stage"),
                         None, None)
            return
        if not uses_llm and not uses_tuner:
            self._record(AttemptRecord(skip_key, stage, "none", Decision.SKIP,
                                       decision_reason="needs an LLM (no --llm given) and the tuner does not "
                                                       "serve this stage"), None, None)
            return
        pending = []
        for path_key, used in ((llm_key, uses_llm), (tune_key, uses_tuner)):
            done = self._recorded(path_key) if used else None
            if done is not None:  # replay a finished path's decision
                rec, cand = done
                if rec.decision == Decision.KEEP and cand is not None:
                    self._accept(cand, rec.median_ms)
            elif used:
                pending.append(path_key)
        if not pending:
            return
        # At the floor nothing is left to gain: one row per stage (per path when one path already ran).
        if self._floor_stop(stage, [skip_key] if len(pending) == int(uses_llm) + int(uses_tuner) else pending):
            return
        self._say(f"{stage}: profiling")
        assert self.state.best is not None
        prof = self.profiler.profile(self.state.best, stage)
        self.device_s += prof.wall_s
        decision = _early_exit(prof, stage)
        if decision is not None and decision.skip:
            self._record(AttemptRecord(skip_key, stage, "rules", Decision.SKIP, decision_reason=decision.reason,
                                       metrics_before=prof.metrics), None, None)
            return
        if llm_key in pending:
            self._llm_stage(stage, prof)
        if tune_key in pending and not self._floor_stop(stage, [tune_key]):  # the LLM's change may have got there
            self._tune_stage(stage, prof)

    def _launch_stage(self) -> str | None:
        """Without an LLM the tuner searches the whole launch space once, at the first stage it serves."""
        if self.llm is not None or self.tuner is None:
            return None
        return next((s for s in self.cfg.stages if s in TUNER_STAGES_WITHOUT_LLM), None)

    def _floor(self) -> None:
        """The task's floor, once per task: a resumed run reads the recorded one (the same stop decisions)."""
        if self.floor_probe is None:
            return
        row = self.store.task(self.run_id, self.key) or {}
        if row.get("floor"):
            self.floor_info = FloorInfo.from_dict(row["floor"])
            return
        self._say("floor")
        info = self.floor_probe.floor()
        if self.cfg.timed:
            self.device_s += info.wall_s
        self.floor_info = info
        self.store.update_task(self.run_id, self.key, floor=info.to_dict() | {"threshold": self.cfg.floor_stop})
        if info.available and info.floor is not None:
            self._say(f"floor {info.floor.ms:.4g} ms ({info.floor.limit} bound)")
        else:
            self._say(f"no floor: {info.reason}")

    def _at_floor(self) -> str | None:
        """Why the current best is at the floor (within the floor_stop threshold), or None."""
        info = self.floor_info
        if not self.cfg.timed or info is None or info.floor is None or not info.available:
            return None
        if not at_floor(self.state.best_ms, info.floor, self.cfg.floor_stop):
            return None
        assert self.state.best_ms is not None
        return (f"at the floor: {self.state.best_ms:.4g} ms vs floor {info.floor.ms:.4g} ms "
                f"({self.state.best_ms / info.floor.ms:.2f}x, {info.floor.limit} bound; stop within "
                f"{self.cfg.floor_stop * 100:g}%), nothing left to gain")

    def _floor_stop(self, stage: str, keys: list[str]) -> bool:
        """At the floor: record a SKIP under each key (no profile, no LLM, no tuner) and say so."""
        why = self._at_floor()
        if why is None:
            return False
        self._say(f"{stage}: skipped, {why}")
        for key in keys:
            self._record(AttemptRecord(key, stage, "floor", Decision.SKIP, decision_reason=why), None, None)
        return True

    def _llm_stage(self, stage: str, prof: Profile) -> None:
        from tritonwright.prompts.render import render_optimization_prompt

        assert self.state.best is not None
        self._say(f"{stage}: asking the LLM")
        prompt = render_optimization_prompt(gpu=self.gpu, stage=stage, kind=self.kind, code=self.state.best.source,
                                            metrics=prof.metrics, style=self.cfg.style)
        key = f"stage:{stage}:llm"
        answers = self._ask_many(key, prompt)
        self._say(f"{stage}: evaluating")
        cand, result, usage, failure = self._pick(key, stage, f"stage:{stage}", answers, prof)
        if cand is None or result is None:
            self._record(AttemptRecord(key, stage, "llm", Decision.FAILED, reason=failure, llm=usage,
                                       status="REJECTED", metrics_before=prof.metrics,
                                       decision_reason="no usable code"), None, None)
            return
        if not result.ok:  # one repair, then the stage gives up and the current best stays
            self._record(AttemptRecord(f"{key}:first", stage, "llm", Decision.FAILED, llm=usage, metrics_before=prof.metrics,
                                       decision_reason="fails its check; one repair follows",
                                       diff=self._diff(cand)), cand, result)
            cand, result, usage, failure = self._repair_once(f"stage:{stage}:repair", stage, cand, result,
                                                             record=False)
            if cand is None or result is None or not result.ok or failure:
                self._record(AttemptRecord(key, stage, "llm", Decision.FAILED, llm=usage, reason=failure,
                                           metrics_before=prof.metrics, status="REJECTED" if failure else None,
                                           decision_reason="the repaired candidate fails too: best kept"),
                             None if failure else cand, None if failure else result)
                return
        self._decide(key, stage, cand, result, usage, prof)

    def _decide(self, key: str, stage: str, cand: Candidate, result: EvalResult, usage: dict[str, Any] | None,
                prof: Profile) -> None:
        assert self.state.best is not None
        if not self.cfg.timed or self.comparer is None:
            decision, why = Decision.REVERT, "timing needs a GPU: correct, but speed cannot be judged, best kept"
        else:
            self._say(f"{stage}: A/B timing")
            t = time.monotonic()
            cmp = self.comparer.compare(self.state.best, cand, self.cfg.threshold)
            self.device_s += time.monotonic() - t
            decision, why = (Decision.KEEP if cmp.significant else Decision.REVERT), cmp.reason
        self._record(AttemptRecord(key, stage, "llm", decision, decision_reason=why, llm=usage,
                                   metrics_before=prof.metrics, diff=self._diff(cand)), cand, result)
        if decision is Decision.KEEP:
            self._accept(cand, result.timing.median_ms if result.timing else None)

    def _tune_stage(self, stage: str, prof: Profile) -> None:
        assert self.state.best is not None and self.tuner is not None
        self._say(f"{stage}: launch tuner")
        report = self.tuner(self.state.best, "launch" if stage == self._launch_stage() else stage)
        self.device_s += report.wall_s
        decision = attempt_decision(report.decision)
        why = report.reason
        if report.decision is Decision.CHECKED:
            why = f"timing needs a GPU: configs checked for correctness only ({report.reason})"
        cand = report.candidate if report.decision is Decision.KEEP else None
        tuned_ms = report.tuned_ms if cand is not None else None
        rec = AttemptRecord(f"stage:{stage}:tune", stage, "tuner", decision, decision_reason=why,
                            metrics_before=prof.metrics, diff=self._diff(cand) if cand else None,
                            median_ms=tuned_ms, wall_s=report.wall_s,
                            status="OK" if report.results and any(r.ok for r in report.results) else None)
        rec.speedup_eager, rec.speedup_compiled = self._speedups(tuned_ms)
        if cand is not None:
            cand = Candidate(source=cand.source, origin="tune", parent=self.state.best.id)
        self._record(rec, cand, None)
        if cand is not None:
            self._accept(cand, tuned_ms)

    def _final(self) -> EvalResult | None:
        assert self.state.best is not None
        done = self._recorded("final")
        if done:
            rec, _ = done
            return EvalResult.from_dict(rec.result) if rec.result else None
        self._say("final check")
        seed = self.evaluator_seed() + FINAL_SEED_OFFSET
        have = self.state.eager is not None or self.state.compiled is not None
        # The baselines measured at the seed stand for this run: timing them again on the final inputs would
        # compile the reference once more (10-15 s) to time the same operations on other random values.
        result = self._evaluate(self.state.best, baselines=not have, seed=seed)
        if have and self.cfg.timed and result.ok:
            result.eager, result.compiled = self.state.eager, self.state.compiled
            result.notes.append("baselines: measured at the seed evaluation of this run, same device")
        rec = AttemptRecord("final", "final", self.state.best.origin, Decision.KEEP if result.ok else Decision.FAILED,
                            decision_reason=("the best candidate failed its final check" if not result.ok else
                                             "fresh inputs, timed against both baselines" if self.cfg.timed else
                                             "fresh inputs, correctness only (timing needs a GPU)"))
        self._record(rec, self.state.best, result)
        return result

    def evaluator_seed(self) -> int:
        cfg = getattr(self.evaluator, "config", None)
        return int(getattr(cfg, "seed", 42))


def _ms(result: EvalResult) -> float:
    """Sort key: measured median, or +inf when untimed (then the first correct answer wins)."""
    return result.timing.median_ms if result.timing else float("inf")


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
