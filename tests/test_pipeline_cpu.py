"""The optimizer end to end on CPU: interpreter evaluations, recorded LLM replies, a fake A/B timer and
fake profiles (tests/fakes.py). Each scripted reply exercises one path of the loop."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.fakes import FakeComparer, FakeEvaluator, FakeLLM, FakeTuner
from tritonwright.candidate import Candidate
from tritonwright.eval.types import EvalConfig
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.optimize import OptimizeConfig, TaskOptimizer
from tritonwright.pipeline.seams import HarnessEvaluator, Profile
from tritonwright.profile.metrics import L2_HIT, STALL_LONG_SCOREBOARD
from tritonwright.profile.report import KernelProfile, Launch, Metric, ProfileReport
from tritonwright.store import RunStore
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent / "fixtures"

KERNEL = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def tanh_scale_kernel(x_ptr, y_ptr, n, scale, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    e = tl.exp(2.0 * x)
    tl.store(y_ptr + offs, (e - 1.0) / (e + 1.0) * scale{BUG}, mask=mask)


def launch(x, scale):
    y = torch.empty_like(x)
    n = x.numel()
    tanh_scale_kernel[(triton.cdiv(n, 256),)](x, y, n, scale, BLOCK=256)
    return y


class ModelNew(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return launch(x, self.scale){MARK}
'''


def code(bug: str = "", mark: str = "") -> str:
    return KERNEL.replace("{BUG}", bug).replace("{MARK}", mark)


def fenced(src: str) -> str:
    return f"Here is the kernel.\n\n```python\n{src}```\n"


ANALYSIS = json.dumps({"critical_issue": "the scale is applied twice", "why_it_matters": "values are wrong",
                       "minimal_fix_hint": "remove the extra factor"})


def recordings(path: Path) -> None:
    rows = [
        # seed: cut off twice (length) -> no usable code -> repaired
        {"step": "seed", "text": "```python\nimport torch\n", "finish_reason": "length"},
        {"step": "seed", "text": "```python\nimport torch\n", "finish_reason": "length"},
        {"step": "analysis:repair:1", "text": "Sure:\n" + ANALYSIS},
        {"step": "repair:1", "text": fenced(code())},
        # grid stage: a wrong kernel; its one repair is wrong too -> kept out
        {"step": "stage:grid_and_parallel:llm", "text": fenced(code(bug=" * 2.0"))},
        {"step": "analysis:stage:grid_and_parallel:repair", "text": ANALYSIS},
        {"step": "stage:grid_and_parallel:repair", "text": fenced(code(bug=" + 1.0"))},
        # block tiling: correct and (fake timer) faster -> KEEP
        {"step": "stage:block_tiling:llm", "text": fenced(code(mark="  # faster"))},
        # memory access: correct but slower -> REVERT
        {"step": "stage:memory_access:llm", "text": fenced(code(mark="  # slower"))},
    ]
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps({"task": "scale", "attempt": 0, **r}) + "\n")


def _report(l2: float, stall: float) -> ProfileReport:
    launch = Launch(1, "tanh_scale_kernel", metrics={L2_HIT: Metric(L2_HIT, l2, "%"),
                                                    STALL_LONG_SCOREBOARD: Metric(STALL_LONG_SCOREBOARD, stall, "%")})
    return ProfileReport(kernels={"tanh_scale_kernel": KernelProfile("tanh_scale_kernel", [launch])})


class FakeProfiler:
    """advanced_memory's early-exit rule holds (L2 hit 95%, stalls 4%); other stages see busy metrics."""

    def profile(self, candidate: Candidate, stage: str) -> Profile:
        l2, stall = (95.0, 4.0) if stage == "advanced_memory" else (50.0, 40.0)
        report = _report(l2, stall)
        return Profile({"tanh_scale_kernel": {L2_HIT: l2, STALL_LONG_SCOREBOARD: stall}}, report)


@pytest.fixture()
def setup(tmp_path):
    from tritonwright.llm.factory import make_provider

    rec = tmp_path / "replies.jsonl"
    recordings(rec)
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")
    llm = make_provider(f"replay:{rec}")
    return task, store, run_id, llm


def make(task, store, run_id, llm, comparer, evaluator=None):
    """The A/B timer is FakeComparer: a `# faster` marker in B's source wins, anything else loses."""
    return TaskOptimizer(key="scale", task=task, store=store, run_id=run_id,
                         config=OptimizeConfig(timed=True, max_repairs=2),
                         evaluator=evaluator or HarnessEvaluator(task, EvalConfig(device="cpu", trials=2)),
                         comparer=comparer, profiler=FakeProfiler(), llm=llm, gpu=get_gpu("H100 SXM"), kind="single")


def test_whole_loop_with_recorded_replies(setup):
    task, store, run_id, llm = setup
    comparer = FakeComparer()
    outcome = make(task, store, run_id, llm, comparer).run(None)
    assert outcome.status == "done", outcome.error
    steps = {a.step_key: a for a in store.attempts(run_id, "scale")}
    seed_reason = steps["seed"].reason.lower()
    assert steps["seed"].decision == "FAILED" and ("cut off" in seed_reason or "truncat" in seed_reason), seed_reason
    assert steps["repair:1"].decision == "BASE" and steps["repair:1"].status == "OK"
    assert steps["stage:grid_and_parallel:llm:first"].status == "MISMATCH"
    grid = steps["stage:grid_and_parallel:llm"]  # the path's one final row: the repair failed too
    assert grid.decision == "FAILED" and grid.status == "MISMATCH" and "best kept" in grid.decision_reason
    assert steps["stage:block_tiling:llm"].decision == "KEEP" and "faster" in steps[
        "stage:block_tiling:llm"].decision_reason
    assert steps["stage:memory_access:llm"].decision == "REVERT" and "slower" in steps[
        "stage:memory_access:llm"].decision_reason
    skip = steps["stage:advanced_memory:skip"]
    assert skip.decision == "SKIP" and "lts__t_sector_hit_rate.pct" in skip.decision_reason
    assert skip.metrics_before["tanh_scale_kernel"][L2_HIT] == 95.0
    assert steps["final"].status == "OK"
    assert "# faster" in outcome.best.source and comparer.calls == 2
    row = store.task(run_id, "scale")
    assert row["gpu_s"] is not None and 0 < row["gpu_s"] <= row["wall_s"]  # evaluations, A/B and profiles
    # Every prompt and reply is kept, and the diff of the kept step is recorded.
    assert (store.task_dir(run_id, "scale") / "llm" / "stage_block_tiling_llm.json").exists()
    assert "+        return launch(x, self.scale)  # faster" in steps["stage:block_tiling:llm"].diff


def test_resume_redoes_nothing(setup):
    task, store, run_id, llm = setup
    make(task, store, run_id, llm, FakeComparer()).run(None)
    before = [(a.step_key, a.decision) for a in store.attempts(run_id, "scale")]

    comparer = FakeComparer()
    # Told nothing, the LLM and the evaluator fail the test when a recorded step is asked or evaluated again.
    outcome = make(task, store, run_id, FakeLLM(), comparer, evaluator=FakeEvaluator()).run(None)
    assert outcome.status == "done" and "# faster" in outcome.best.source and comparer.calls == 0
    assert [(a.step_key, a.decision) for a in store.attempts(run_id, "scale")] == before


def test_no_llm_and_no_candidate_says_what_to_pass(tmp_path):
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")
    opt = make(task, store, run_id, None, None)
    with pytest.raises(ValueError, match="--from CANDIDATE.py"):
        opt.run(None)


def test_given_candidate_without_llm_uses_the_tuner_only(tmp_path):
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")
    tuner = FakeTuner()  # REVERT: "not significantly faster"
    opt = TaskOptimizer(key="scale", task=task, store=store, run_id=run_id, config=OptimizeConfig(timed=False),
                        evaluator=HarnessEvaluator(task, EvalConfig(device="cpu", trials=2)), comparer=None,
                        profiler=FakeProfiler(), llm=None, gpu=get_gpu("H100 SXM"), kind="single", tuner=tuner)
    outcome = opt.run(Candidate(source=textwrap.dedent(code())))
    assert outcome.status == "done"
    assert tuner.stages == ["launch"]  # one search of every launch axis, at block_tiling
    steps = {a.step_key: a for a in store.attempts(run_id, "scale")}
    for later in ("memory_access", "advanced_memory"):
        assert steps[f"stage:{later}:skip"].decision == "SKIP"
        assert "searched every axis" in steps[f"stage:{later}:skip"].decision_reason
    assert steps["stage:grid_and_parallel:skip"].decision == "SKIP"
    assert "needs an LLM" in steps["stage:grid_and_parallel:skip"].decision_reason


def test_candidates_k_evaluates_every_answer_and_keeps_the_best(tmp_path):
    from tritonwright.llm.factory import make_provider

    rec = tmp_path / "replies.jsonl"
    rows = [{"step": "stage:block_tiling:llm", "attempt": 0, "text": fenced(code(bug=" * 2.0"))},
            {"step": "stage:block_tiling:llm#1", "attempt": 1, "text": fenced(code(mark="  # faster"))}]
    rec.write_text("".join(json.dumps({"task": "scale", **r}) + "\n" for r in rows))
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")
    opt = TaskOptimizer(key="scale", task=task, store=store, run_id=run_id,
                        config=OptimizeConfig(stages=("block_tiling",), candidates=2, timed=True),
                        evaluator=HarnessEvaluator(task, EvalConfig(device="cpu", trials=2)), comparer=FakeComparer(),
                        profiler=FakeProfiler(), llm=make_provider(f"replay:{rec}"), gpu=get_gpu("H100 SXM"),
                        kind="single")
    outcome = opt.run(Candidate(source=code()))
    steps = {a.step_key: a for a in store.attempts(run_id, "scale")}
    assert steps["stage:block_tiling:llm"].decision == "KEEP" and "# faster" in outcome.best.source
    assert steps["stage:block_tiling:llm#0"].decision == "FAILED" and steps["stage:block_tiling:llm#0"].status == "MISMATCH"


def test_stage_repair_that_wins_is_kept_and_replayed_on_resume(tmp_path):
    from tritonwright.llm.factory import make_provider

    rec = tmp_path / "replies.jsonl"
    rows = [{"step": "stage:grid_and_parallel:llm", "text": fenced(code(bug=" * 2.0"))},
            {"step": "analysis:stage:grid_and_parallel:repair", "text": ANALYSIS},
            {"step": "stage:grid_and_parallel:repair", "text": fenced(code(mark="  # faster"))}]
    rec.write_text("".join(json.dumps({"task": "scale", "attempt": 0, **r}) + "\n" for r in rows))
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")

    def make_opt(llm):
        return TaskOptimizer(key="scale", task=task, store=store, run_id=run_id,
                             config=OptimizeConfig(stages=("grid_and_parallel",), timed=True),
                             evaluator=HarnessEvaluator(task, EvalConfig(device="cpu", trials=2)),
                             comparer=FakeComparer(), profiler=FakeProfiler(), llm=llm, gpu=get_gpu("H100 SXM"),
                             kind="single")

    first = make_opt(make_provider(f"replay:{rec}")).run(Candidate(source=code()))
    steps = {a.step_key: a for a in store.attempts(run_id, "scale")}
    assert steps["stage:grid_and_parallel:llm:first"].decision == "FAILED"
    assert steps["stage:grid_and_parallel:llm"].decision == "KEEP" and "# faster" in first.best.source

    again = make_opt(FakeLLM()).run(Candidate(source=code()))  # told nothing: asking again fails the test
    assert "# faster" in again.best.source  # the KEEP of the repaired answer is replayed, not redone


def test_a_refused_llm_call_is_not_counted_as_a_call(tmp_path):
    """The replay has no reply for the seed: the call is refused before any answer, so it is no call."""
    from tritonwright.llm.factory import make_provider

    rec = tmp_path / "replies.jsonl"
    rec.write_text(json.dumps({"task": "other", "step": "seed", "attempt": 0, "text": "x"}) + "\n")
    task = load_task(FIXTURES / "eval" / "scale_task.py", {"n": "700"})
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "scale", task.path, task.hash, 1, "single")
    opt = TaskOptimizer(key="scale", task=task, store=store, run_id=run_id,
                        config=OptimizeConfig(timed=False, max_repairs=0),
                        evaluator=HarnessEvaluator(task, EvalConfig(device="cpu")), comparer=None,
                        profiler=FakeProfiler(), llm=make_provider(f"replay:{rec}"), gpu=get_gpu("H100 SXM"),
                        kind="single")
    outcome = opt.run(None)
    assert outcome.status == "failed"
    seed = store.attempt(run_id, "scale", "seed")
    assert seed.decision == "FAILED" and seed.llm["calls"] == 0
    assert store.usage(run_id) == {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0,
                                   "refused": 1}
