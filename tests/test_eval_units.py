"""Fast in-process tests: task loading, static rules, output comparison, the A/B decision."""

from __future__ import annotations

import json
import os
import random
import textwrap

import pytest
import torch

from tritonwright.candidate import static_check, triton_kernel_names
from tritonwright.errors import CandidateError, TaskError
from tritonwright.eval import baseline_cache
from tritonwright.eval.checks import compare_inputs, compare_output
from tritonwright.eval.runner import decide
from tritonwright.eval.types import EvalResult, OutputCheck, Status, TimingStats, Tolerance
from tritonwright.task import load_task, parse_overrides

TASK = textwrap.dedent('''
    import torch
    import torch.nn as nn

    class Model(nn.Module):
        def forward(self, x):
            return x * 2

    batch_size = 16  # rows
    dim: int = 1 << 10

    def get_inputs():
        return [torch.randn(batch_size, dim)]

    def get_init_inputs():
        return []
''')


def write(tmp_path, text, name="task.py"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# --- task loading -------------------------------------------------------------------------------------------

def test_overrides_rewrite_constants_and_change_the_hash(tmp_path):
    p = write(tmp_path, TASK)
    base = load_task(p)
    t = load_task(p, parse_overrides(["dim=4096", "batch_size=2"]))
    assert "batch_size = 2  # rows" in t.source and "dim: int = 4096" in t.source
    assert t.overrides == {"dim": "4096", "batch_size": "2"} and t.hash != base.hash
    assert t.to_dict()["overrides"] == {"dim": "4096", "batch_size": "2"}


def test_overrides_reach_tuple_unpacked_constants(tmp_path):
    text = TASK.replace("batch_size = 16  # rows", "depth, (height, width) = 16, (32, 32)  # sizes\nbatch_size = 16  # rows")
    t = load_task(write(tmp_path, text), parse_overrides(["height=4", "depth=2", "width=8"]))
    assert "depth, (height, width) = 2, (4, 8)  # sizes" in t.source
    assert t.constants["depth"] == "2" and t.constants["width"] == "8"
    # A value that is not a tuple display has no element to replace: the names are not overridable.
    with pytest.raises(TaskError, match="no module-level constant named 'a'"):
        load_task(write(tmp_path, TASK + "a, b = divmod(7, 2)\n"), parse_overrides(["a=1"]))


def test_overrides_reach_the_names_of_a_chained_assignment(tmp_path):
    """KernelBench writes `height = width = 256`: each name is a constant, and overriding one leaves the other."""
    text = TASK.replace("batch_size = 16  # rows", "height = width = 256  # sizes\nbatch_size = 16  # rows")
    p = write(tmp_path, text)
    assert load_task(p).constants["height"] == "256"
    t = load_task(p, parse_overrides(["height=8"]))
    assert "width = 256; height = 8  # sizes" in t.source
    assert (t.constants["height"], t.constants["width"]) == ("8", "256")
    both = load_task(p, parse_overrides(["width=4", "height=8"]))
    assert "height = 8; width = 4  # sizes" in both.source and "256" not in both.source
    ns: dict[str, object] = {}
    exec(next(line for line in both.source.splitlines() if "height = 8" in line), ns)
    assert (ns["height"], ns["width"]) == (8, 4)
    with pytest.raises(TaskError, match="--set h: it is unpacked from a chained assignment"):
        load_task(write(tmp_path, TASK + "h, w = s = (1, 2)\n"), parse_overrides(["h=3"]))


@pytest.mark.parametrize("items, match", [
    (["nope=3"], "no module-level constant named 'nope'.*batch_size, dim"),
    (["dim=foo()"], "must be a Python literal"),
    (["dim"], "expected NAME=VALUE"),
])
def test_bad_overrides(tmp_path, items, match):
    with pytest.raises(TaskError, match=match):
        load_task(write(tmp_path, TASK), parse_overrides(items))


@pytest.mark.parametrize("text, match", [
    (TASK.replace("class Model", "class Other"), "missing class Model"),
    (TASK.replace("def get_inputs", "def get_x"), r"missing def get_inputs\(\)"),
    (TASK.replace("return x * 2", "return x *"), r"task.py:7: syntax error"),
    ("Model = 3\ndef get_inputs(): pass\ndef get_init_inputs(): pass\n", "Model must be a class"),
])
def test_bad_task_files(tmp_path, text, match):
    with pytest.raises(TaskError, match=match):
        load_task(write(tmp_path, text))


def test_missing_task_file(tmp_path):
    with pytest.raises(TaskError, match="task file not found"):
        load_task(tmp_path / "absent.py")


# --- static rules -------------------------------------------------------------------------------------------

BASE = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl

@triton.jit
def k(x_ptr, n, B: tl.constexpr):
    pass

def run(x):
    k[(1,)](x, 1, B=16)
    return x
'''


def rules(extra: str) -> set[str]:
    return {v.rule for v in static_check(BASE + textwrap.dedent(extra), "c.py", frozenset({"task"}))}


def test_clean_candidate_has_no_violations():
    assert rules("class ModelNew(nn.Module):\n    def forward(self, x):\n        return run(x)\n") == set()
    assert triton_kernel_names(BASE) == ["k"]


@pytest.mark.parametrize("extra, rule", [
    ("x = 1\n", "model-new"),
    ("class ModelNew:\n    def forward(self, x):\n        try:\n            return run(x)\n"
     "        except RuntimeError:\n            return torch.relu(x)\n", "try-fallback"),
    ("class ModelNew:\n    def forward(self, x):\n        try:\n            return run(x)\n"
     "        except RuntimeError:\n            return self.fallback(x)\n", "try-fallback"),
    ("class ModelNew:\n    def forward(self, x):\n        s = torch.cuda.Stream()\n        return run(x)\n",
     "streams-threads"),
    ("import threading\nclass ModelNew:\n    pass\n", "streams-threads"),
    ("class ModelNew:\n    pass\ntorch.cuda.synchronize = lambda: None\n", "patch-attrs"),
    ("class ModelNew:\n    pass\ntorch.backends.cuda.matmul.allow_tf32 = True\n", "patch-attrs"),
    ("import time\nclass ModelNew:\n    pass\nsetattr(time, 'perf_counter', None)\n", "patch-attrs"),
    ("from task import Model\nclass ModelNew:\n    pass\n", "reference-access"),
    ("class ModelNew:\n    def f(self):\n        return open('task.py').read()\n", "reference-access"),
    ("import sys\nclass ModelNew:\n    def f(self):\n        return sys.modules\n", "reference-access"),
])
def test_each_rule_fires(extra, rule):
    assert rule in rules(extra)


def test_try_without_fallback_is_allowed():
    extra = ("class ModelNew:\n    def forward(self, x):\n        try:\n            return run(x)\n"
             "        except RuntimeError as e:\n            raise ValueError('bad') from e\n")
    assert "try-fallback" not in rules(extra)


def test_no_kernel_and_syntax_error():
    assert "triton-kernel" in {v.rule for v in static_check("class ModelNew:\n    pass\n")}
    with pytest.raises(CandidateError, match=":2: syntax error"):
        static_check("x = 1\ndef (:\n", "c.py")


# --- output comparison --------------------------------------------------------------------------------------

TOL = Tolerance(1e-4, 1e-4)


def test_compare_output_figures():
    ref = torch.linspace(-1, 1, 1000)
    ok = compare_output(ref + 1e-6, ref, TOL, 0, 0)
    assert ok.ok and ok.max_abs_err == pytest.approx(1e-6, rel=0.05) and ok.rel_l2_err < 1e-5
    bad = compare_output(ref + 1e-2, ref, TOL, 0, 0)
    assert not bad.ok and bad.mismatched == 1000 and "outside atol" in bad.reason


def test_compare_output_nan_inf_shape_dtype_constant():
    ref = torch.randn(64)
    ref_nan = ref.clone()
    ref_nan[3] = float("nan")
    assert compare_output(ref_nan.clone(), ref_nan, TOL, 0, 0).ok  # NaN where the reference has NaN
    assert "NaN" in compare_output(ref_nan, ref, TOL, 0, 0).reason
    ref_inf = ref.clone()
    ref_inf[0] = float("inf")
    flipped = ref_inf.clone()
    flipped[0] = float("-inf")
    assert "Inf" in compare_output(flipped, ref_inf, TOL, 0, 0).reason
    assert "shape" in compare_output(ref[:-1], ref, TOL, 0, 0).reason
    assert "dtype" in compare_output(ref.double(), ref, TOL, 0, 0).reason
    tiny = ref * 1e-7
    zero = compare_output(torch.zeros_like(tiny), tiny, TOL, 0, 0)
    assert not zero.ok and "constant" in zero.reason
    assert compare_output(torch.zeros(4), torch.zeros(4), TOL, 0, 0).ok  # constant where the reference is too
    assert "tensor" in compare_output([1], ref, TOL, 0, 0).reason
    ints = torch.arange(10)
    assert compare_output(ints.clone(), ints, TOL, 0, 0).ok and not compare_output(ints + 1, ints, TOL, 0, 0).ok


def test_compare_inputs():
    x = torch.randn(8)
    assert compare_inputs([x.clone()], [x.clone()], [x], lambda d: TOL) is None
    assert "modified" in compare_inputs([x + 1], [x.clone()], [x], lambda d: TOL)
    # The reference mutates in place: the candidate must do the same.
    assert compare_inputs([x + 1], [x + 1], [x], lambda d: TOL) is None
    assert "differs" in compare_inputs([x + 2], [x + 1], [x], lambda d: TOL)


# --- results and the A/B decision -------------------------------------------------------------------------------

def test_eval_result_json_round_trip():
    r = EvalResult(status=Status.MISMATCH, reason="r", outputs=[OutputCheck(0, 0, False, [2], "float32")],
                   timing=TimingStats.from_samples([1.0, 2.0, 3.0, 4.0], "cuda_events"))
    d = json.loads(r.to_json())
    assert d["status"] == "MISMATCH" and d["timing"]["median_ms"] == 2.5
    back = EvalResult.from_dict(d)
    assert back.status is Status.MISMATCH and back.timing == r.timing and back.outputs == r.outputs


def _noisy(base: float, n: int, rng: random.Random, sd: float = 0.01) -> list[float]:
    return [base * (1 + rng.gauss(0, sd)) for _ in range(n)]


def test_aa_is_never_significant():
    rng = random.Random(0)
    for _ in range(50):
        c = decide(_noisy(1.0, 10, rng), _noisy(1.0, 10, rng), 0.02)
        assert not c.significant, c.reason


def test_clear_gain_is_significant_and_loss_is_reported():
    rng = random.Random(1)
    faster = decide(_noisy(1.05, 10, rng, 0.003), _noisy(1.0, 10, rng, 0.003), 0.02)
    assert faster.significant and "faster" in faster.reason and faster.speedup == pytest.approx(1.05, rel=0.01)
    slower = decide(_noisy(1.0, 10, rng, 0.003), _noisy(1.04, 10, rng, 0.003), 0.02)
    assert not slower.significant and "slower by" in slower.reason
    # 2.5% faster but with noise of several percent: not significant at 2%.
    noisy = decide(_noisy(1.025, 10, rng, 0.05), _noisy(1.0, 10, rng, 0.05), 0.02)
    assert not noisy.significant


def test_baseline_cache_round_trip(tmp_path):
    k = baseline_cache.key("h", "env", "default", {"min_runs": 100})
    assert baseline_cache.load(k, str(tmp_path)) is None
    baseline_cache.store(k, {"eager": {"median_ms": 1.0}}, str(tmp_path))
    assert baseline_cache.load(k, str(tmp_path)) == {"eager": {"median_ms": 1.0}}
    assert k != baseline_cache.key("h", "env2", "default", {"min_runs": 100})


def test_an_autotune_pick_from_the_cache_must_be_one_of_the_code_s_configs():
    """hooks.only_own_configs: a pick Triton read from its cache that the code does not list (planted by a
    process that can write the cache) is dropped and the configs benchmarked; a listed pick stands; a miss
    (the original benchmarked) passes through."""
    import triton

    from tritonwright.eval import hooks

    own = [triton.Config({"BLOCK": 256}, num_warps=4), triton.Config({"BLOCK": 1024}, num_warps=8)]
    planted = triton.Config({"BLOCK": 4096}, num_warps=8)

    class Tuner:
        def __init__(self):
            self.cache, self.benched = {}, 0

        def bench(self):
            self.benched += 1
            self.cache[("n", 1024)] = own[1]

    def reading(pick):
        def original(self, key, configs, bench_fn):
            if pick is None:
                bench_fn()
                return False
            self.cache[key] = pick
            return True
        return original

    for pick, loaded, benched, chosen in ((planted, False, 1, own[1]), (own[0], True, 0, own[0]),
                                          (None, False, 1, own[1])):
        t = Tuner()
        check = hooks.only_own_configs(reading(pick))
        assert check(t, ("n", 1024), own, t.bench) is loaded
        assert (t.benched, t.cache[("n", 1024)]) == (benched, chosen)


def test_the_autotune_cache_guard_fits_this_triton_or_turns_the_cache_off(monkeypatch):
    """guard_autotune_cache wraps Triton's check_disk_cache when its signature is the one the guard knows;
    for any other it turns the cache off in this process instead of trusting unguarded picks."""
    from triton.runtime.autotuner import Autotuner

    from tritonwright.eval import hooks

    monkeypatch.setenv("TRITON_CACHE_AUTOTUNING", "1")
    real = Autotuner.check_disk_cache
    monkeypatch.setattr(Autotuner, "check_disk_cache", real)
    hooks.guard_autotune_cache()
    assert getattr(Autotuner.check_disk_cache, "_tritonwright", False)
    hooks.guard_autotune_cache()  # once only
    assert getattr(Autotuner.check_disk_cache, "_tritonwright", False)

    def other(self, key, configs):  # a future Triton's shape
        return False

    monkeypatch.setattr(Autotuner, "check_disk_cache", other)
    hooks.guard_autotune_cache()
    assert Autotuner.check_disk_cache is other
    assert os.environ["TRITON_CACHE_AUTOTUNING"] == "0"
