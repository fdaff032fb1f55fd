"""Seed, analysis and repair prompts; the analysis reply parser; log tails."""

from __future__ import annotations

import re

import pytest

from tritonwright.gpus import get_gpu
from tritonwright.prompts import (
    KINDS,
    Analysis,
    Extras,
    FailedAttempt,
    log_tail,
    render_analysis_prompt,
    render_gpu_header,
    render_repair_prompt,
    render_seed_prompt,
)
from tritonwright.prompts.render import LOG_TAIL_LINES, MAX_HISTORY, example_pair

LEFTOVER = re.compile(r"\{\{|\{%|\{#|%\}|#\}")  # "None" is legal here: the examples index with [:, None]
REFERENCE = "import torch\n\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return x.relu()\n"
BROKEN = "import triton\n\nclass ModelNew:\n    pass\n"
ANALYSIS = Analysis("BLOCK_SIZE is not a power of two", "tl.arange needs a power-of-two range",
                    "use triton.next_power_of_2")


@pytest.mark.parametrize("kind", KINDS)
def test_seed_prompt_shows_the_example_pair_for_the_kind(kind: str) -> None:
    gpu = get_gpu("L4")
    out = render_seed_prompt(gpu=gpu, kind=kind, reference_code=REFERENCE + "\n\n")
    reference, triton_version = example_pair(kind)
    assert reference in out and triton_version in out
    assert render_gpu_header(gpu) in out
    assert f"[REFERENCE CODE]\n```python\n{REFERENCE.rstrip()}\n```\n" in out
    assert out.endswith("```python\n# <Triton code>\n```\n")
    assert not LEFTOVER.search(out)
    others = [k for k in KINDS if k != kind]
    assert all(example_pair(k)[1] not in out for k in others)


def test_seed_prompt_takes_extras_but_not_the_reference_twice() -> None:
    out = render_seed_prompt(gpu=get_gpu("L4"), kind="single", reference_code=REFERENCE,
                             extras=Extras(input_shapes=("x: float32[16, 16384]",)))
    assert "[INPUT SHAPES]\n- x: float32[16, 16384]\n\n**Task**" in out
    with pytest.raises(ValueError, match="always shows the reference"):
        render_seed_prompt(gpu=get_gpu("L4"), kind="single", reference_code=REFERENCE,
                           extras=Extras(reference_code=REFERENCE))


def test_analysis_prompt_asks_for_the_three_json_fields() -> None:
    out = render_analysis_prompt(status="COMPILE_ERROR", error_log="Traceback\nValueError: arange's range must be "
                                 "a power of 2\n", reference_code=REFERENCE, broken_code=BROKEN)
    assert "Status: COMPILE_ERROR\n" in out and "must be a power of 2\n```" in out
    assert '{"critical_issue": ' in out and '"why_it_matters": ' in out and '"minimal_fix_hint": ' in out
    assert f"[BROKEN CODE]\n```python\n{BROKEN.rstrip()}\n```" in out
    assert not LEFTOVER.search(out)


def test_repair_prompt_holds_log_history_analysis_and_both_codes() -> None:
    history = [FailedAttempt("RUNTIME_ERROR", f"attempt {i}\n  illegal memory access") for i in range(7)]
    out = render_repair_prompt(gpu=get_gpu("A10G"), status="MISMATCH", error_log="max abs err 3.2",
                               reference_code=REFERENCE, broken_code=BROKEN, analysis=ANALYSIS, history=history)
    order = ["# Target GPU", "[ERROR LOG]", "[EARLIER FAILED ATTEMPTS]", "[ANALYSIS]", "[REFERENCE CODE]",
             "[BROKEN CODE]", "**Task**", "OUTPUT RULES (STRICT):"]
    positions = [out.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "- Critical issue: BLOCK_SIZE is not a power of two\n" in out
    assert "1. RUNTIME_ERROR: attempt 2 illegal memory access\n" in out  # only the last MAX_HISTORY, one line each
    assert "attempt 1 " not in out and out.count("RUNTIME_ERROR") == MAX_HISTORY
    assert out.endswith("# <fixed Triton code>\n```\n")
    assert not LEFTOVER.search(out)


def test_repair_prompt_without_history_has_no_history_block() -> None:
    out = render_repair_prompt(gpu=get_gpu("A10G"), status="TIMEOUT", error_log="killed after 120 s",
                               reference_code=REFERENCE, broken_code=BROKEN, analysis=ANALYSIS)
    assert "[EARLIER FAILED ATTEMPTS]" not in out
    assert "killed after 120 s\n```\n\n[ANALYSIS]" in out


def test_log_tail_keeps_the_end_and_says_it_cut() -> None:
    log = "\n".join(f"line {i}" for i in range(500)) + "\n"
    tail = log_tail(log)
    assert tail.startswith("[... earlier output cut ...]\n")
    assert tail.endswith("line 499") and f"line {500 - LOG_TAIL_LINES}\n" in tail
    assert f"line {499 - LOG_TAIL_LINES}\n" not in tail
    assert log_tail("short\nlog\n") == "short\nlog"
    huge = log_tail("x" * 100_000, max_chars=1000)
    assert huge.endswith("x" * 1000) and len(huge) < 1100


@pytest.mark.parametrize("reply", [
    '{"critical_issue": "a", "why_it_matters": "b", "minimal_fix_hint": "c"}',
    'Here it is:\n```json\n{"critical_issue": "a", "why_it_matters": "b", "minimal_fix_hint": "c"}\n```',
    '{"note": 1} then {"critical_issue": " a ", "why_it_matters": "b", "minimal_fix_hint": "c", "extra": 2}',
])
def test_parse_analysis_finds_the_object(reply: str) -> None:
    # The analysis reply is parsed by the LLM layer into the type the repair prompt renders.
    from tritonwright.llm.analysis import parse_analysis

    assert parse_analysis(reply).analysis == Analysis("a", "b", "c")


@pytest.mark.parametrize("reply", [
    "no json here",
    '{"critical_issue": "a", "why_it_matters": "b"}',
    '{"critical_issue": "", "why_it_matters": "b", "minimal_fix_hint": "c"}',
    '{"critical_issue": "a", "why_it_matters": "b", "minimal_fix_hint": "c"',
])
def test_parse_analysis_rejects_unusable_replies(reply: str) -> None:
    from tritonwright.llm.analysis import parse_analysis

    result = parse_analysis(reply)
    assert result.analysis is None and result.failure
