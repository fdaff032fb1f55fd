"""The seams' Protocols (tritonwright/seams.py): every fake in tests/fakes.py and every real adapter satisfies
its Protocol. mypy checks this file (pyproject.toml [tool.mypy] files): the assignments in
`_fakes_satisfy_their_protocols` and `_adapters_satisfy_their_protocols` fail type checking when a fake or an
adapter drifts from its seam; the tests below run the fakes once each."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.fakes import (
    FASTER,
    FakeClock,
    FakeComparer,
    FakeEvaluator,
    FakeFloor,
    FakeLLM,
    FakeProfiler,
    FakeRival,
    FakeSlot,
    FakeTuner,
)
from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalConfig, EvalResult, Status
from tritonwright.executors.harness import HarnessComparer, HarnessEvaluator
from tritonwright.executors.pool import Slot
from tritonwright.gpus.spec import get_gpu
from tritonwright.inductor_seed import SeedOutcome
from tritonwright.llm.client import LLMClient
from tritonwright.llm.factory import make_provider
from tritonwright.llm.types import CallKey, Message
from tritonwright.pipeline import seams as pipeline_seams
from tritonwright.pipeline.runner import _tuner
from tritonwright.seams import LLM, Clock, Comparer, Evaluator, TuneOutcome, Tuner
from tritonwright.task import Task


def _fakes_satisfy_their_protocols() -> list[object]:
    evaluator: Evaluator = FakeEvaluator()
    comparer: Comparer = FakeComparer()
    tuner: Tuner = FakeTuner()
    llm: LLM = FakeLLM()
    clock: Clock = FakeClock()
    profiler: pipeline_seams.Profiler = FakeProfiler()
    floor: pipeline_seams.FloorProbe = FakeFloor()
    slot: Slot = FakeSlot("a")
    rival: pipeline_seams.Rival = FakeRival()
    return [evaluator, comparer, tuner, llm, clock, profiler, floor, slot, rival]


def _adapters_satisfy_their_protocols(task: Task, client: LLMClient) -> list[object]:
    evaluator: Evaluator = HarnessEvaluator(task, EvalConfig())
    comparer: Comparer = HarnessComparer(task, EvalConfig())
    tuner: Tuner = _tuner(evaluator, comparer, get_gpu("H100 SXM"), False, 0.02)
    llm: LLM = client
    clock: Clock = time.monotonic
    rival: pipeline_seams.Rival = pipeline_seams.HarnessRival(task, "cuda")
    return [evaluator, comparer, tuner, llm, clock, rival]


def test_every_seam_has_one_fake_and_a_real_adapter(tmp_path: Path) -> None:
    assert len(_fakes_satisfy_their_protocols()) == 9
    rec = tmp_path / "replies.jsonl"
    rec.write_text(json.dumps({"task": "t", "step": "seed", "attempt": 0, "text": "x"}) + "\n")
    client = make_provider(f"replay:{rec}")
    assert isinstance(client, LLMClient)
    assert len(_adapters_satisfy_their_protocols(Task(path="t.py", name="t", source=""), client)) == 6


def test_the_pipeline_re_exports_the_package_protocols() -> None:
    import tritonwright.seams as package_seams

    assert pipeline_seams.Evaluator is package_seams.Evaluator and pipeline_seams.Comparer is package_seams.Comparer


def test_fake_evaluator_answers_counts_and_refuses_when_told_nothing() -> None:
    ok = EvalResult(Status.OK)
    ev = FakeEvaluator(lambda c: ok)
    assert ev.evaluate_many([Candidate("a"), Candidate("b")], timed=False, seed=7) == [ok, ok]
    assert ev.screen_many([Candidate("c")]) == [ok]
    assert (ev.calls, ev.timed, ev.seeds) == (3, [False, False, True], [7, 7, None])
    assert ev.config.seed == 42
    try:
        FakeEvaluator().evaluate(Candidate("x"), timed=True)
    except AssertionError as exc:
        assert "evaluated again" in str(exc)
    else:
        raise AssertionError("an evaluator told nothing must refuse")


def test_fake_comparer_tuner_llm_clock_profiler_floor() -> None:
    cmp = FakeComparer()
    assert cmp.compare(Candidate("a"), Candidate(f"b  {FASTER}"), 0.02).significant
    assert not cmp.compare(Candidate("a"), Candidate("b"), 0.02).significant and cmp.calls == 2
    tuner = FakeTuner(tuned_ms=1.0)
    outcome: TuneOutcome = tuner(Candidate("x = 1\n"), "launch")
    assert outcome.decision is Decision.KEEP and outcome.candidate.source.endswith("# tuned\n")
    assert FakeTuner()(Candidate("x"), "block_tiling").decision is Decision.REVERT and tuner.stages == ["launch"]
    llm = FakeLLM({"seed": "hello"})
    assert llm.complete([Message.user("p")], key=CallKey("t", "seed")).text == "hello" and llm.asked == ["seed"]
    assert llm.check().startswith("fake:coder")
    clock = FakeClock(tick=0.5)
    assert (clock(), clock()) == (0.0, 0.5)
    clock.advance(10)
    assert clock() == 11.0
    prof = FakeProfiler(wall_s=0.25)
    assert prof.profile(Candidate("x"), "memory_access").metrics is None and prof.stages == ["memory_access"]
    assert FakeFloor(3.0).floor().floor is not None and not FakeFloor().floor().available
    rival = FakeRival()
    assert rival.make().candidate is not None and rival.calls == 1
    assert FakeRival(None).make() == SeedOutcome(None, "fake: no Triton codegen here")


def test_a_brief_timing_shortens_the_config_s_budget_and_never_lengthens_it() -> None:
    """HarnessEvaluator.evaluate_many(budget_ms=...): the job's config times on the shorter budget; a budget
    above the user's own (a --budget-ms they lowered) leaves theirs."""
    class Capture:
        configs: list[EvalConfig] = []

        def call(self, job: Any) -> Any:
            self.configs.append(job.config)
            return [EvalResult(Status.OK) for _ in job.candidates]

    cap = Capture()
    task = Task(path="t.py", name="t", source="")
    HarnessEvaluator(task, EvalConfig(budget_ms=1000.0), cap).evaluate_many([Candidate("x")], True, budget_ms=100.0)
    HarnessEvaluator(task, EvalConfig(budget_ms=50.0), cap).evaluate_many([Candidate("x")], True, budget_ms=100.0)
    HarnessEvaluator(task, EvalConfig(budget_ms=1000.0), cap).evaluate_many([Candidate("x")], True)
    assert [c.budget_ms for c in cap.configs] == [100.0, 50.0, 1000.0]
    assert all(c.timing and c.min_runs == EvalConfig().min_runs for c in cap.configs)
