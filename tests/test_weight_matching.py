"""Matching ModelNew's parameters and buffers to Model's: name, dotted suffix, (shape, dtype, order), same seed.

In-process and CPU only, except the last test, which runs one tiny candidate through the judge (interpreter).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from tritonwright.candidate import Candidate
from tritonwright.eval import loading
from tritonwright.eval.loading import LoadError, TensorMatch, match_weights
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

SEED = 42  # any fixed seed: both models are built under it, as the judge does
CPU = torch.device("cpu")


def build(cls: type, *args: object) -> nn.Module:
    return loading.construct(cls, loading.InitArgs(args=list(args)), SEED, CPU, cls.__name__)


def randomised(model: nn.Module) -> nn.Module:
    """Model's tensors set to values no default initialisation gives, so a wrong match shows."""
    with torch.no_grad():
        for t in loading.reference_state(model).values():
            if t.is_floating_point():
                t.copy_(torch.rand_like(t) + 0.5)  # positive: valid as a running variance too
    return model


def strategies(match: loading.WeightMatch) -> dict[str, tuple[str | None, str]]:
    return {m.new: (m.ref, m.strategy) for m in match.matches}


class BN(nn.Module):
    def __init__(self, c: int = 6):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)


class RenamedBN(nn.Module):
    """BatchNorm's tensors under a kernel author's names, registered by hand."""

    def __init__(self, c: int = 6):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(c))
        self.beta = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.ones(c))


def test_batchnorm_renamed_gamma_beta_matched():
    ref, new = randomised(build(BN)), build(RenamedBN)
    match = match_weights(new, loading.reference_state(ref))
    assert match.error() is None
    assert strategies(match) == {"gamma": ("bn.weight", "order"), "beta": ("bn.bias", "order"),
                                 "running_mean": ("bn.running_mean", "suffix"),
                                 "running_var": ("bn.running_var", "suffix")}
    for mine, theirs in [("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean"),
                         ("running_var", "running_var")]:
        assert torch.equal(getattr(new, mine), getattr(ref.bn, theirs))
    # num_batches_tracked (int64, shape ()) is not held by RenamedBN: a note, never a rival of a float tensor
    assert match.unused == ["bn.num_batches_tracked"]
    notes = match.notes()
    assert "weights matched: 2 by suffix, 2 by order" in notes
    assert "weights matched by order of registration: gamma <- bn.weight, beta <- bn.bias" in notes
    assert "weights matched by suffix: running_mean <- bn.running_mean, running_var <- bn.running_var" in notes


class RenamedBNAllBuffers(RenamedBN):
    """Every BatchNorm tensor renamed, num_batches_tracked included (under its own name)."""

    def __init__(self, c: int = 6):
        super().__init__(c)
        del self.running_mean, self.running_var
        self.register_buffer("mean", torch.zeros(c))
        self.register_buffer("var", torch.ones(c))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))


def test_num_batches_tracked_does_not_disturb_matching():
    ref, new = randomised(build(BN)), build(RenamedBNAllBuffers)
    with torch.no_grad():
        ref.bn.num_batches_tracked.fill_(7)
    match = match_weights(new, loading.reference_state(ref))
    assert match.error() is None, match.error()
    assert strategies(match) == {"gamma": ("bn.weight", "order"), "beta": ("bn.bias", "order"),
                                 "mean": ("bn.running_mean", "order"), "var": ("bn.running_var", "order"),
                                 "steps": ("bn.num_batches_tracked", "order")}
    assert torch.equal(new.var, ref.bn.running_var) and int(new.steps) == 7 and match.unused == []


class LN(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.ln = nn.LayerNorm(d)


class BareLN(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))


def test_layernorm_weight_matches_ln_weight_by_suffix_both_ways():
    ref, new = randomised(build(LN)), build(BareLN)
    match = match_weights(new, loading.reference_state(ref))
    assert strategies(match) == {"weight": ("ln.weight", "suffix"), "bias": ("ln.bias", "suffix")}
    assert torch.equal(new.weight, ref.ln.weight) and torch.equal(new.bias, ref.ln.bias)
    assert "weights matched by suffix: weight <- ln.weight, bias <- ln.bias" in match.notes()
    # the other way round: the candidate's name is the longer one
    back = build(LN)
    match = match_weights(back, loading.reference_state(randomised(build(BareLN))))
    assert strategies(match) == {"ln.weight": ("weight", "suffix"), "ln.bias": ("bias", "suffix")}


class TwoNorms(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.a = nn.LayerNorm(d)
        self.b = nn.LayerNorm(d)


def test_suffix_must_be_unique_both_ways():
    """`weight` ends two of Model's names: not a suffix match; the (shape, dtype) group decides instead."""
    ref, new = randomised(build(TwoNorms)), build(BareLN)
    match = match_weights(new, loading.reference_state(ref))
    err = match.error()
    assert err is not None and "ModelNew.weight, ModelNew.bias (8,) could each be any of Model's " \
        "a.weight, a.bias, b.weight, b.bias (8,)" in err


class GN(nn.Module):
    def __init__(self, groups: int = 2, c: int = 4):
        super().__init__()
        self.gn = nn.GroupNorm(groups, c)


class RenamedGN(nn.Module):
    def __init__(self, groups: int = 2, c: int = 4):
        super().__init__()
        self.groups = groups
        self.scale = nn.Parameter(torch.ones(c))
        self.shift = nn.Parameter(torch.zeros(c))


def test_groupnorm_renamed():
    ref, new = randomised(build(GN)), build(RenamedGN)
    match = match_weights(new, loading.reference_state(ref))
    assert strategies(match) == {"scale": ("gn.weight", "order"), "shift": ("gn.bias", "order")}
    assert torch.equal(new.scale, ref.gn.weight) and torch.equal(new.shift, ref.gn.bias)


class ExactAndRenamed(nn.Module):
    """`bias` keeps Model's name while its registration order would pair it with `weight`."""

    def __init__(self, d: int = 8):
        super().__init__()
        self.register_parameter("bias", nn.Parameter(torch.zeros(d)))
        self.register_parameter("weight", nn.Parameter(torch.ones(d)))


class Flat(nn.Module):
    def __init__(self, d: int = 8):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))


def test_exact_names_preferred_over_order():
    ref, new = randomised(build(Flat)), build(ExactAndRenamed)
    match = match_weights(new, loading.reference_state(ref))
    assert strategies(match) == {"bias": ("bias", "name"), "weight": ("weight", "name")}
    assert torch.equal(new.bias, ref.bias) and torch.equal(new.weight, ref.weight)
    assert match.notes() == []  # all by name: the plain case says nothing
    assert match.by_name == ["bias", "weight"]


class OneVector(nn.Module):
    def __init__(self, c: int = 6):
        super().__init__()
        self.w = nn.Parameter(torch.ones(c))


def test_ambiguous_mapping_is_a_load_error_naming_the_candidates(tmp_path: Path):
    ref = randomised(build(BN))
    match = match_weights(build(OneVector), loading.reference_state(ref))
    assert match.ambiguous[0].new == ("w",) and match.ambiguous[0].ref[:2] == ("bn.weight", "bn.bias")
    assert "ModelNew.w (6,) could be any of Model's bn.weight, bn.bias, bn.running_mean, bn.running_var (6,)" \
        in (match.error() or "")
    # through the loader the judge uses: a LoadError (a user error, one line), not a traceback
    path = tmp_path / "cand.py"
    path.write_text(textwrap.dedent('''
        import torch
        import torch.nn as nn

        class ModelNew(nn.Module):
            def __init__(self, c):
                super().__init__()
                self.w = nn.Parameter(torch.ones(c))
    '''))
    with pytest.raises(LoadError, match=r"ModelNew\.w \(6,\) could be any of Model's bn\.weight, bn\.bias"):
        loading.load_model_new(str(path), loading.InitArgs(args=[6]), loading.reference_state(ref), SEED, CPU,
                               module_name="tritonwright_test_weight_matching")


def test_shape_conflict_on_an_exact_name_stays_an_error():
    class Wider(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(9))
            self.bias = nn.Parameter(torch.zeros(8))

    match = match_weights(build(Wider), loading.reference_state(build(Flat)))
    assert match.error() == "shape differs from Model's: weight (9,) vs (8,)"


class WithExtra(nn.Module):
    """Model's linear layer plus a tensor Model has nothing like, drawn from the RNG after it."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.extra = nn.Parameter(torch.randn(3, 5))


class Lin(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.drawn_after = torch.randn(3, 5)  # not registered: only to draw what WithExtra.extra draws


def test_tensor_without_counterpart_keeps_its_same_seed_value_and_is_noted():
    ref, new = build(Lin), build(WithExtra)
    built = new.extra.detach().clone()
    match = match_weights(new, loading.reference_state(ref))
    assert match.error() is None
    assert strategies(match)["extra"] == (None, "seed")
    assert match.matches[0] == TensorMatch("extra", None, "seed")  # own parameters come before submodules'
    assert torch.equal(new.extra, built) and torch.equal(new.extra, ref.drawn_after)  # same seed, same draws
    notes = match.notes()
    assert notes[0] == "weights matched: 2 by name, 1 by same seed"
    assert any(n.startswith("weights with no counterpart in Model, kept as built under Model's seed") and
               n.endswith(": extra") for n in notes)


# ---------------------------------------------------------------------------------------------------------
# End to end: the judge on CPU (Triton interpreter) with a LayerNorm candidate whose tensors are renamed

LN_TASK = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        with torch.no_grad():  # not LayerNorm's ones/zeros: a candidate left with its own values fails
            self.ln.weight.normal_()
            self.ln.bias.normal_()

    def forward(self, x):
        return self.ln(x)


rows = 4
d = 16


def get_inputs():
    return [torch.randn(rows, d)]


def get_init_inputs():
    return [d]
'''

LN_CANDIDATE = '''
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def layernorm_kernel(x_ptr, w_ptr, b_ptr, y_ptr, d, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < d
    x = tl.load(x_ptr + row * d + offs, mask=mask, other=0.0)
    mean = tl.sum(x, axis=0) / d
    diff = tl.where(mask, x - mean, 0.0)
    var = tl.sum(diff * diff, axis=0) / d
    w = tl.load(w_ptr + offs, mask=mask)
    b = tl.load(b_ptr + offs, mask=mask)
    tl.store(y_ptr + row * d + offs, diff / tl.sqrt(var + eps) * w + b, mask=mask)


class ModelNew(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.beta = nn.Parameter(torch.zeros(d))

    def forward(self, x):
        y = torch.empty_like(x)
        d = x.shape[-1]
        layernorm_kernel[(x.shape[0],)](x, self.weight, self.beta, y, d, 1e-5, BLOCK=triton.next_power_of_2(d))
        return y
'''


def test_renamed_layernorm_candidate_passes_the_judge(tmp_path: Path):
    (tmp_path / "ln_task.py").write_text(LN_TASK)
    cfg = EvalConfig(device="cpu", trials=2, load_timeout_s=120, correctness_timeout_s=120)
    r = evaluate(load_task(tmp_path / "ln_task.py"), Candidate(source=LN_CANDIDATE), cfg)
    assert r.status is Status.OK, r.reason
    assert "weights matched by suffix: weight <- ln.weight" in r.notes, r.notes
    assert "weights matched by order of registration: beta <- ln.bias" in r.notes, r.notes
