"""Tolerant JSON extraction for analysis replies (tests/fixtures/llm/analysis)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.llm import extract_json_object, parse_analysis

ANALYSIS = Path(__file__).parent / "fixtures" / "llm" / "analysis"


def read(name: str) -> str:
    return (ANALYSIS / f"{name}.md").read_text()


@pytest.mark.parametrize(("name", "issue_part", "hint_part"), [
    ("fenced", "mask is missing", "mask = offsets < n_elements"),
    ("bare_with_prose", "BLOCK_K is not a tl.constexpr", "annotate BLOCK_K"),
    ("sloppy", "accumulator is float16", "dtype=tl.float32"),
    ("python_dict", "drops the remainder rows", "use triton.cdiv(M, BLOCK_M); keep the row mask"),
    ("two_objects", "wrong axis", "axis=1"),
])
def test_analysis_replies_parse(name, issue_part, hint_part):
    result = parse_analysis(read(name))
    assert result.ok, result.failure
    assert issue_part in result.analysis.critical_issue
    assert hint_part in result.analysis.minimal_fix_hint
    assert result.analysis.why_it_matters


def test_missing_key_is_named():
    result = parse_analysis(read("missing_key"))
    assert not result.ok and "lacks why_it_matters, minimal_fix_hint" in result.failure
    assert '"critical_issue": "..."' in result.failure


def test_no_json_is_a_clear_failure():
    result = parse_analysis(read("no_json"))
    assert not result.ok and result.failure.startswith("No JSON object found")
    assert extract_json_object("nothing here").value is None


def test_braces_inside_strings_do_not_confuse_the_scan():
    text = 'Note: {"critical_issue": "uses {x} as a format string", "why_it_matters": "}", "minimal_fix_hint": "h"}'
    result = parse_analysis(text)
    assert result.ok and result.analysis.critical_issue == "uses {x} as a format string"
