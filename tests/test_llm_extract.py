"""Extraction and output-rule checks on a corpus of realistic replies (tests/fixtures/llm/replies)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tritonwright.candidate import module_facts, static_check
from tritonwright.llm import apply_output_rules, extract_model_code
from tritonwright.llm.fences import find_fences, has_unclosed_fence

REPLIES = Path(__file__).parent / "fixtures" / "llm" / "replies"


def extract(name: str):
    return extract_model_code((REPLIES / f"{name}.md").read_text())


# name -> (substrings the source must hold, substrings it must not hold, substrings of some note)
USABLE = {
    "prose_around_code": (["def mish_kernel", "class ModelNew"], ["Key optimizations", "Looking at"], []),
    "two_fences_usage_example": (["def relu_kernel", "class ModelNew"], ["print(out.shape)"],
                                 ["2 Python code blocks"]),
    "revised_twice": (["corrected: masked tail"], ["x = tl.load(x_ptr + offs)\n"], ["the last complete one"]),
    "test_code_appended": (["def add_bias_relu", "def check_shapes", "batch_size = 128"],
                           ["__main__", "def get_inputs", "def get_init_inputs", "def test_correctness",
                            "Quick self-test", "do_bench"],
                           ["`if __name__", "`get_inputs`", "`get_init_inputs`", "test helper `test_correctness`"]),
    "no_language_tag": (["def sigmoid_kernel"], [], []),
    "no_fence_bare_code": (["def tanh_kernel", "return y\n"], ["This version"], ["no code fence"]),
    "split_kernel_and_class": (["def leaky_relu_kernel", "def leaky_relu(", "class ModelNew"], [],
                               ["joined 2 code blocks"]),
    "missing_tl_import": (["import triton.language as tl\n"], [], ["added missing import"]),
    "unclosed_but_complete": (["def neg_kernel"], [], ["never closed"]),
}

# name -> substrings of the failure message
FAILING = {
    "truncated": ["cut off", "does not parse"],
    "no_model_new": ["defines no class ModelNew"],
    "pytorch_only": ["no @triton.jit kernel"],
    "syntax_error": ["does not parse: line 8", "def abs_kernel"],
    "cuda_only": ["no Python code block", "cpp"],
    "not_a_module_subclass": ["does not subclass nn.Module"],
}


def test_corpus_is_fully_covered():
    assert {p.stem for p in REPLIES.glob("*.md")} == set(USABLE) | set(FAILING)


@pytest.mark.parametrize("name", sorted(USABLE))
def test_usable_replies(name):
    must, must_not, notes = USABLE[name]
    result = extract(name)
    assert result.ok and result.failure is None, result.failure
    source = result.source
    for s in must:
        assert s in source, s
    for s in must_not:
        assert s not in source, s
    for n in notes:
        assert any(n in note for note in result.notes), (n, result.notes)
    facts = module_facts(ast.parse(source))
    assert "ModelNew" in facts.classes and facts.kernels
    assert static_check(source) == []  # what we hand over also passes the candidate checks
    assert result.candidate("seed").source == source


@pytest.mark.parametrize("name", sorted(FAILING))
def test_failing_replies_become_repair_messages(name):
    result = extract(name)
    assert not result.ok and result.source is None
    for s in FAILING[name]:
        assert s in result.failure, (s, result.failure)
    assert "class ModelNew(nn.Module)" in result.failure  # the rules are restated for the repair prompt
    with pytest.raises(ValueError):
        result.candidate("repair")


def test_top_level_calls_are_removed_but_used_helpers_stay():
    source = (
        "import torch\nimport torch.nn as nn\nimport triton\nimport triton.language as tl\n\n"
        "@triton.jit\ndef k(x_ptr):\n    pass\n\n"
        "def validate(x):\n    return x\n\n"
        "def benchmark():\n    pass\n\n"
        "class ModelNew(nn.Module):\n    def forward(self, x):\n        k[(1,)](x)\n        return validate(x)\n\n"
        "torch.manual_seed(0)\nmodel = ModelNew()\nbenchmark()\n")
    result = apply_output_rules(source)
    assert result.ok
    assert "def validate" in result.source  # used by forward
    assert "def benchmark" not in result.source and "manual_seed" not in result.source
    assert "model = ModelNew()" not in result.source
    assert len(result.notes) == 4


def test_fences_respect_length_and_character():
    text = "````python\ncode\n```\nstill code\n````\n~~~\nt\n~~~\n```python\nopen"
    fences = find_fences(text)
    assert [f.body for f in fences] == ["code\n```\nstill code\n", "t\n", "open\n"]
    assert [f.closed for f in fences] == [True, True, False]
    assert [f.lang for f in fences] == ["python", "", "python"]
    assert has_unclosed_fence(text) and not has_unclosed_fence("no code") and not has_unclosed_fence("```\nx\n```")


def test_cut_off_after_an_earlier_fence_is_reported_as_cut_off():
    reply = ("Plan:\n```python\nBLOCK = 1024\n```\nCode:\n```python\nimport triton\n@triton.jit\n"
             "def k(x_ptr, n, BLOCK: tl.constexpr):\n    offs = tl.arange(0, BLOCK\n")
    result = extract_model_code(reply)
    assert not result.ok and "cut off" in result.failure and "never closed" in result.notes[0]
