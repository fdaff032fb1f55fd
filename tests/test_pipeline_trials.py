"""Evaluations and the choice among K answers (pipeline/trials.py), and the seed and its repairs
(pipeline/seed_repair.py), alone with a fake evaluator and a fake LLM (tests/fakes.py): no child process."""

from __future__ import annotations

import pytest

from tests.fakes import FakeEvaluator, FakeLLM
from tests.test_pipeline_cpu import ANALYSIS, code, fenced
from tritonwright.candidate import Candidate
from tritonwright.decision import Decision
from tritonwright.eval.types import EvalConfig, EvalResult, Status, TimingStats
from tritonwright.gpus.spec import get_gpu
from tritonwright.pipeline.exchange import Answer, LlmExchange
from tritonwright.pipeline.seed_repair import NO_START, SeedAndRepair
from tritonwright.pipeline.steps import StepRecorder
from tritonwright.pipeline.trials import Trials
from tritonwright.task import Task


def _t(ms: float) -> TimingStats:
    return TimingStats(ms, ms, ms, ms, ms, 10, "fake")


def judge(c: Candidate) -> EvalResult:
    """`# bad` in the source fails the check; `# fast` runs at 1 ms, anything else at 2 ms; baselines 4 ms."""
    if "# bad" in c.source:
        return EvalResult(Status.MISMATCH, reason="output 0: 3 elements out of tolerance", wall_s=0.5)
    return EvalResult(Status.OK, timing=_t(1.0 if "# fast" in c.source else 2.0), eager=_t(4.0), wall_s=0.5)


@pytest.fixture()
def steps(step_recorder: StepRecorder) -> StepRecorder:
    return step_recorder  # conftest.py: a fresh store with one started task


def test_evaluations_count_device_time_and_keep_baselines(steps: StepRecorder) -> None:
    ev = FakeEvaluator(judge, config=EvalConfig(seed=7))
    trials = Trials(ev, timed=True, steps=steps)
    assert trials.seed == 7
    trials.evaluate(Candidate("x = 1\n"), baselines=True, seed=9)
    assert steps.state.device_s == 0.5 and steps.state.eager_ms == 4.0 and ev.seeds == [9]
    results = trials.evaluate_all([Candidate("a"), Candidate("b # fast")])
    assert [r.ok for r in results] == [True, True] and steps.state.device_s == 1.0  # one session: its longest wall


def test_the_best_correct_answer_goes_on_and_the_others_are_recorded(steps: StepRecorder) -> None:
    trials = Trials(FakeEvaluator(judge), timed=True, steps=steps)
    usage = {"calls": 1}
    answers = [Answer(fenced(code(mark="  # bad")), usage, ""), Answer("no code", usage, ""),
               Answer(fenced(code(mark="  # fast")), usage, ""), Answer(fenced(code()), usage, "")]
    picked = trials.pick("stage:x:llm", "x", "stage:x", answers, None)
    assert picked.candidate is not None and "# fast" in picked.candidate.source and picked.failure == ""
    assert picked.result is not None and picked.result.ok
    rows = {a.step_key: a for a in steps.store.attempts(steps.run_id, "t")}
    assert rows["stage:x:llm#0"].decision is Decision.FAILED and rows["stage:x:llm#0"].decision_reason == \
        "fails its check"
    assert rows["stage:x:llm#3"].decision is Decision.REVERT and "better" in rows["stage:x:llm#3"].decision_reason
    assert "stage:x:llm#1" not in rows and "stage:x:llm#2" not in rows  # no code: not evaluated; the winner: its caller's


def test_no_usable_answer_says_why(steps: StepRecorder) -> None:
    trials = Trials(FakeEvaluator(), timed=True, steps=steps)  # evaluating anything would fail the test
    picked = trials.pick("seed", "seed", "seed", [Answer(None, {"calls": 0}, "LLM call failed (FAILED): x")], None)
    assert (picked.candidate, picked.result, picked.failure) == (None, None, "LLM call failed (FAILED): x")


def _seeding(steps: StepRecorder, replies: dict[str, str] | None, max_repairs: int = 2
             ) -> tuple[SeedAndRepair, FakeEvaluator, list[str]]:
    said: list[str] = []
    ev = FakeEvaluator(judge)
    exchange = None if replies is None else LlmExchange(FakeLLM(dict(replies)), steps.store, steps.run_id, "t")
    seeding = SeedAndRepair(task=Task("t.py", "t", "class Model: ...\n"), gpu=get_gpu("H100 SXM"), kind="single",
                            max_repairs=max_repairs, steps=steps, trials=Trials(ev, True, steps), exchange=exchange,
                            say=said.append)
    return seeding, ev, said


def test_a_given_start_is_the_seed(steps: StepRecorder) -> None:
    seeding, ev, said = _seeding(steps, None)
    cand, result = seeding.seed(Candidate("x = 1\n", origin="inductor"))
    assert result is not None and result.ok and said == ["seed"]
    found = steps.recorded("seed")
    assert found is not None and found[0].origin == "inductor" and "torch.compile" in found[0].decision_reason
    again, _ = seeding.seed(None)  # recorded: read back, not redone
    assert again is not None and again.source == "x = 1\n" and ev.calls == 1


def test_no_start_and_no_llm_says_what_to_pass(steps: StepRecorder) -> None:
    seeding, _, _ = _seeding(steps, None)
    with pytest.raises(ValueError, match="--from CANDIDATE.py"):
        seeding.seed(None)
    assert "--llm SPEC" in NO_START


def test_a_failing_llm_seed_is_repaired(steps: StepRecorder) -> None:
    replies = {"seed": fenced(code(mark="  # bad")), "analysis:repair:1": ANALYSIS,
               "repair:1": fenced(code(mark="  # bad again")), "analysis:repair:2": ANALYSIS,
               "repair:2": fenced(code())}
    seeding, _, said = _seeding(steps, replies)
    cand, result = seeding.repair_loop(*seeding.seed(None))
    assert result is not None and result.ok and cand is not None and "# bad" not in cand.source
    assert said == ["seed", "repair 1/2", "repair 2/2"]
    rows = {a.step_key: a.decision for a in steps.store.attempts(steps.run_id, "t")}
    assert rows == {"seed": Decision.FAILED, "repair:1": Decision.FAILED, "repair:2": Decision.BASE}
    assert [h.status for h in seeding.history] == ["MISMATCH"]  # each failed repair feeds the next prompt


def test_a_stage_repair_is_not_recorded_by_the_repairer(steps: StepRecorder) -> None:
    replies = {"analysis:stage:x:repair": ANALYSIS, "stage:x:repair": "still no code"}
    seeding, _, _ = _seeding(steps, replies)
    bad = Candidate(code(mark="  # bad"))
    cand, result, usage, failure = seeding.repair_once("stage:x:repair", "x", bad, judge(bad), record=False)
    assert cand is bad and failure and usage["calls"] == 2
    assert steps.store.attempts(steps.run_id, "t") == [] and seeding.history[-1].status == "REJECTED"


def test_without_an_llm_the_repair_loop_stops(steps: StepRecorder) -> None:
    seeding, _, said = _seeding(steps, None)
    bad = Candidate("x = 1  # bad\n")
    assert seeding.repair_loop(bad, judge(bad)) == (bad, judge(bad)) and said == []
