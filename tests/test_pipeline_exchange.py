"""The LLM exchange alone (pipeline/exchange.py) with a fake LLM (tests/fakes.py): every call recorded with
its usage, failed calls as reasons, K answers under their own keys, the analysis-then-fix repair pair."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import FakeLLM
from tests.test_pipeline_cpu import ANALYSIS, code, fenced
from tritonwright.gpus.spec import get_gpu
from tritonwright.llm.types import LLMReply, ReplyStatus
from tritonwright.pipeline.exchange import SYSTEM_PROMPT, LlmExchange, add_usage, code_from
from tritonwright.store import RunStore


@pytest.fixture()
def store(tmp_path: Path) -> tuple[RunStore, str]:
    s = RunStore(tmp_path)
    run_id = s.create_run("optimize", {})
    s.start_task(run_id, "t", "t.py", "h", 1, "single")
    return s, run_id


def test_one_call_is_asked_and_recorded(store: tuple[RunStore, str]) -> None:
    s, run_id = store
    llm = FakeLLM({"seed": "hello"})
    answer = LlmExchange(llm, s, run_id, "t").ask("seed", "write a kernel")
    assert answer.text == "hello" and answer.failure == ""
    assert answer.usage == {"input_tokens": 100, "output_tokens": 50, "cost_usd": 0.001, "calls": 1}
    sent = llm.prompts[0]
    assert [m.role for m in sent] == ["system", "user"] and sent[0].content == SYSTEM_PROMPT
    kept = json.loads((s.task_dir(run_id, "t") / "llm" / "seed.json").read_text())
    assert kept["prompt"][1]["content"] == "write a kernel" and kept["reply"]["answered"] is True
    assert "exchanges" not in kept["reply"] and s.usage(run_id)["calls"] == 1


def test_a_failed_call_is_a_reason_and_no_text(store: tuple[RunStore, str]) -> None:
    s, run_id = store
    refused = LLMReply(ReplyStatus.FAILED, "", "error", "fake", "coder", error="no recording")
    answer = LlmExchange(FakeLLM({"seed": refused}), s, run_id, "t").ask("seed", "p")
    assert answer.text is None and answer.failure == "LLM call failed (FAILED): no recording"
    assert answer.usage["calls"] == 0 and s.usage(run_id)["refused"] == 1  # refused before any answer


def test_k_answers_are_asked_under_their_own_keys_in_order(store: tuple[RunStore, str]) -> None:
    s, run_id = store
    llm = FakeLLM({"stage:x:llm": "a0", "stage:x:llm#1": "a1", "stage:x:llm#2": "a2"})
    answers = LlmExchange(llm, s, run_id, "t", candidates=3).ask_many("stage:x:llm", "p")
    assert [a.text for a in answers] == ["a0", "a1", "a2"]
    assert sorted(llm.asked) == ["stage:x:llm", "stage:x:llm#1", "stage:x:llm#2"]
    assert len(LlmExchange(FakeLLM({"k": "only"}), s, run_id, "t", candidates=0).ask_many("k", "p")) == 1


def test_a_repair_asks_for_an_analysis_then_the_fix(store: tuple[RunStore, str]) -> None:
    s, run_id = store
    llm = FakeLLM({"analysis:repair:1": ANALYSIS, "repair:1": fenced(code())})
    answer = LlmExchange(llm, s, run_id, "t").ask_repair("repair:1", status="MISMATCH", log="wrong values",
                                                         reference="class Model: ...", broken="class ModelNew: ...",
                                                         history=[], gpu=get_gpu("H100 SXM"))
    assert llm.asked == ["analysis:repair:1", "repair:1"] and answer.failure == ""
    assert answer.text is not None and "class ModelNew" in answer.text
    assert "the scale is applied twice" in llm.prompts[1][1].content  # the analysis is the fix call's hint
    assert answer.usage == {"input_tokens": 200, "output_tokens": 100, "calls": 2, "cost_usd": 0.002}


def test_a_repair_refused_for_good_skips_the_fix_call_and_says_so(store: tuple[RunStore, str]) -> None:
    s, run_id = store
    refused = LLMReply(ReplyStatus.FAILED, "", "error", "fake", "coder", error="bad_request: no reply left",
                       refused=True)
    llm = FakeLLM({"analysis:repair:1": refused})
    answer = LlmExchange(llm, s, run_id, "t").ask_repair("repair:1", status="MISMATCH", log="wrong values",
                                                         reference="class Model: ...", broken="class ModelNew: ...",
                                                         history=[], gpu=get_gpu("H100 SXM"))
    assert llm.asked == ["analysis:repair:1"] and answer.refused and answer.text is None
    # a failure that may pass (retries given up): the fix call is still asked
    gave_up = LLMReply(ReplyStatus.FAILED, "", "error", "fake", "coder", error="gave up after 4 attempts")
    llm = FakeLLM({"analysis:repair:2": gave_up, "repair:2": fenced(code())})
    answer = LlmExchange(llm, s, run_id, "t").ask_repair("repair:2", status="MISMATCH", log="wrong values",
                                                         reference="class Model: ...", broken="class ModelNew: ...",
                                                         history=[], gpu=get_gpu("H100 SXM"))
    assert llm.asked == ["analysis:repair:2", "repair:2"] and not answer.refused and answer.text is not None


def test_usage_adds_up_and_an_unknown_cost_stays_unknown() -> None:
    a = {"input_tokens": 1, "output_tokens": 2, "calls": 1, "cost_usd": 0.5}
    assert add_usage(a, {"input_tokens": 3, "calls": 1, "cost_usd": None}) == {
        "input_tokens": 4, "output_tokens": 2, "calls": 2, "cost_usd": None}


def test_code_from_a_reply() -> None:
    assert code_from(None, "seed", None) == (None, "")
    cand, why = code_from(fenced(code()), "stage:x", "p1")
    assert cand is not None and why == "" and (cand.origin, cand.parent) == ("stage:x", "p1")
    none, why = code_from("no code at all", "seed", None)
    assert none is None and why
