"""Issue 14's attacker cases that hold on CPU: each is a tiny hostile candidate and the verdict it must get."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_eval_cpu import candidate
from tritonwright.candidate import Candidate, static_check
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"
CPU = EvalConfig(device="cpu", trials=1, load_timeout_s=60, correctness_timeout_s=120)
OK_BODY = "return launch(x, torch.empty_like(x), self.scale)"


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "600"})


@pytest.mark.parametrize("snippet, words", [
    ("import subprocess\n", "imports subprocess"),
    ("import socket\n", "imports socket"),
    ("import ctypes\n", "imports ctypes"),
    ("import multiprocessing\n", "imports multiprocessing"),
    ("def shell():\n    os.system('true')\n", "os.system"),
    ("def peek():\n    return os.environ.get('OPENAI_API_KEY')\n", "os.environ"),
    ("def parent():\n    return os.getppid()\n", "os.getppid"),
])
def test_escapes_are_rejected_before_anything_runs(task, snippet, words) -> None:
    cand = candidate(OK_BODY, extra=snippet)
    assert any(words in str(v) for v in static_check(cand.source)), snippet
    r = evaluate(task, cand, CPU)
    assert r.status is Status.REJECTED and words in r.reason


@pytest.mark.parametrize("post", ["torch.tanh(y)", "torch.threshold(y, 0.0, 0.0)", "torch.tril(y.view(20, 30))"])
def test_strict_matches_op_names_exactly(task, post) -> None:
    # aten::t is a transpose (data movement); a prefix match used to let tanh, threshold and tril through
    body = f"y = launch(x, torch.empty_like(x), self.scale)\n_unused = {post}\nreturn y"
    r = evaluate(task, candidate(body), CPU.__class__(**{**CPU.__dict__, "strict": True}))
    op = post.split("(")[0].split(".")[1]
    assert r.status is Status.REJECTED and "--strict" in r.reason and op in r.reason, r.reason


@pytest.mark.parametrize("alloc", [
    "torch.empty_permuted(x.shape, (0,), device=x.device)",
    "x.new_empty(x.shape)",
    "torch.empty(0, device=x.device).resize_(x.shape)",
])
def test_memory_from_every_allocator_is_poisoned(task, alloc) -> None:
    # the kernel writes only the first half: the rest must read as poison (NaN), never as stale memory
    body = f"""
        out = {alloc}
        n = x.numel() // 2
        tanh_scale_kernel[(triton.cdiv(n, 1024),)](x, out, n, self.scale, BLOCK=1024)
        return out
    """
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.MISMATCH and "NaN" in r.reason, r.reason


@pytest.mark.parametrize("raise_it, words", [
    ("raise SystemExit(0)", "during step 'correctness'"),
    ("raise KeyboardInterrupt()", "during step 'correctness'"),
    ("os._exit(0)", "during step 'correctness'"),
])
def test_leaving_the_process_is_a_crash_with_the_step_named(task, raise_it, words) -> None:
    r = evaluate(task, Candidate(candidate(OK_BODY).source.replace(
        "return launch(x, torch.empty_like(x), self.scale)", raise_it)), CPU)
    assert r.status is Status.CRASH and words in r.reason, r.reason


def test_a_hang_in_init_is_a_timeout_of_the_load_step(task) -> None:
    src = candidate(OK_BODY).source.replace("super().__init__()", "super().__init__()\n        while True:\n"
                                            "            pass")
    r = evaluate(task, Candidate(src), CPU.__class__(**{**CPU.__dict__, "load_timeout_s": 5}))
    assert r.status is Status.TIMEOUT and "step 'load'" in r.reason, r.reason


def test_the_load_step_limit_defaults_to_a_minute() -> None:
    assert EvalConfig().load_timeout_s == 60.0


def test_an_odd_object_returned_is_the_candidates_failure(task) -> None:
    r = evaluate(task, candidate("launch(x, torch.empty_like(x), self.scale)\nreturn {'y': x}"), CPU)
    assert r.status in (Status.MISMATCH, Status.REJECTED) and "dict" in r.reason, r.reason
