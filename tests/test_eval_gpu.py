"""The harness on a CUDA GPU: adversarial cases, timing stability, A/A, baseline cache."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tritonwright.candidate import Candidate
from tritonwright.eval.runner import compare, compare_repeated, evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

from .test_eval_cpu import HEADER, candidate

pytestmark = pytest.mark.gpu
FIXTURES = Path(__file__).parent / "fixtures" / "eval"
CORRECT = "return launch(x, torch.empty_like(x), self.scale)"


@pytest.fixture(scope="module")
def task():
    return load_task(FIXTURES / "scale_task.py", {"n": "16777216"})  # 64 MB: fills the GPU, times stably


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return EvalConfig(device="cuda", trials=3, cache_dir=str(tmp_path_factory.mktemp("cache")))


def run(task, cand, cfg, **kw):
    return evaluate(task, cand, EvalConfig(**{**cfg.__dict__, **kw}))


def test_correct_and_baselines_cached(task, cfg):
    first = run(task, candidate(CORRECT), cfg)
    assert first.status is Status.OK, first.reason
    assert first.timing is not None and first.timing.n >= 100 and first.eager and first.compiled
    assert first.baseline_cached is False
    # a short kernel's figure says how fast the host issues it and what the flush between runs costs
    assert first.timing.host_ms is not None and first.timing.host_ms > 0 and first.timing.flush_ms
    assert first.kernels and first.kernels.triton_share is not None and first.kernels.triton_share > 0.99
    second = run(task, candidate(CORRECT), cfg)
    assert second.baseline_cached is True and second.eager == first.eager
    # The second evaluation timed the same kernel: no figure of a different thing. (How closely two timings of
    # one kernel agree is a measurement, shown by the README's A/A and sensitivity benchmark: a 2% bound here
    # failed once on the H200 at 4.8% for this 36 us kernel, the second run's quartiles wider.)
    assert 0.5 < second.timing.median_ms / first.timing.median_ms < 2.0


@pytest.mark.parametrize("body, status, words", [
    ("return launch(x, torch.empty_like(x), self.scale) + 0.01", Status.MISMATCH, "outside atol"),
    ("launch(x, torch.empty_like(x), self.scale)\nreturn torch.empty_like(x)", Status.MISMATCH, "NaN"),
    ("return launch(x, x, self.scale)", Status.MISMATCH, "input 0 was modified"),
    ("if not hasattr(self, 'memo'):\n    self.memo = launch(x, torch.empty_like(x), self.scale)\nreturn self.memo",
     Status.MISMATCH, "trial 1"),
    ("return torch.tanh(x) * self.scale", Status.REJECTED, "no Triton kernel"),
    ("s = torch.cuda.Stream()\nwith torch.cuda.stream(s):\n    return launch(x, torch.empty_like(x), self.scale)",
     Status.REJECTED, "streams-threads"),
    ("return launch(x, torch.empty(1, device=x.device), self.scale)", None, ""),
])
def test_adversarial_on_cuda(task, cfg, body, status, words):
    r = run(task, candidate(body), cfg, timing=False, baselines=False)
    if status is None:  # out-of-bounds writes: an illegal address (CRASH) or corrupted memory (MISMATCH)
        assert r.status in {Status.CRASH, Status.MISMATCH, Status.RUNTIME_ERROR}, r.reason
    else:
        assert r.status is status and words in r.reason, r.reason


def test_illegal_address_is_crash_then_next_eval_works(task, cfg):
    src = HEADER.replace("tl.store(y_ptr + offs,", "tl.store(y_ptr + offs * 1000000000,") + textwrap.dedent('''

        class ModelNew(nn.Module):
            def __init__(self, scale):
                super().__init__()
                self.scale = scale

            def forward(self, x):
                return launch(x, torch.empty_like(x), self.scale)
    ''')
    bad = run(task, Candidate(source=src), cfg, timing=False, baselines=False)
    assert bad.status is Status.CRASH, bad.reason
    hang = run(task, candidate("while True:\n    pass"), cfg, correctness_timeout_s=10)
    assert hang.status is Status.TIMEOUT
    ok = run(task, candidate(CORRECT), cfg, baselines=False)
    assert ok.status is Status.OK


def test_aa_not_significant(task, cfg):
    cand = candidate(CORRECT)
    decisions = compare_repeated(task, cand, cand, cfg, threshold=0.02, rounds=10, repeats=20)
    assert len(decisions) == 20
    assert not any(d.significant for d in decisions), [d.reason for d in decisions]


def test_a_clear_gain_is_settled_at_the_first_look(task, cfg):
    twice = candidate("launch(x, torch.empty_like(x), self.scale)\nreturn launch(x, torch.empty_like(x), self.scale)")
    c = compare(task, twice, candidate(CORRECT), cfg)  # B does half the work of A: ~2x, every round
    assert c.significant and c.rounds == 6 and "settled after 6 of 10 rounds" in c.reason, c.reason
