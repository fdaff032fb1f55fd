"""The tuner spends its search on the kernels that hold the forward's GPU time: heaviest first, and the
lightest, while together under the keep threshold's share, not at all (no launch of theirs could clear it)."""

from __future__ import annotations

from tritonwright.eval.types import KernelShare
from tritonwright.tune.configs import LaunchConfig
from tritonwright.tune.plan import KernelPlan
from tritonwright.tune.search import Decision, TuneReport, TuneSettings, _by_weight, tune

from .test_tune_search import KERNEL, MISH, FakeComparer, FakeEvaluator

THRESHOLD = 0.02


def plan(name: str) -> KernelPlan:
    return KernelPlan(name, "launch", (LaunchConfig.make(4, 2, {}),), (), False, (), False)


def report() -> TuneReport:
    from tritonwright.candidate import Candidate

    return TuneReport("launch", Decision.REFUSED, "", Candidate(source=""))


def test_heaviest_first_and_the_light_ones_left_alone_while_together_under_the_threshold() -> None:
    # a 10 ms forward: 7 ms outside Triton, then kernels of 2.5, 0.3, 0.1, 0.05 and 0.04 ms
    share = KernelShare(triton_time_ms=2.99, other_time_ms=7.01,
                        triton_kernel_ms={"big": 2.5, "mid": 0.3, "small": 0.1, "tiny": 0.05, "tinier": 0.04})
    r = report()
    out = _by_weight([plan(n) for n in ("tiny", "small", "big", "unseen", "mid", "tinier")], share, THRESHOLD, r)
    # 0.04 + 0.05 + 0.1 = 0.19 ms is 1.9% of 10 ms: under 2%; with mid (0.3 ms) it would be 4.9%
    assert [p.kernel for p in out] == ["big", "mid", "unseen"]
    assert {k for k, _ in r.skipped} == {"tinier", "tiny", "small"}
    assert all("under the 2% threshold" in why for _, why in r.skipped)
    assert any(n.startswith("kernels by GPU time") for n in r.notes)


def test_without_per_kernel_times_the_plans_stay_as_they_were() -> None:
    plans = [plan("a"), plan("b")]
    assert _by_weight(plans, None, THRESHOLD, report()) == plans
    assert _by_weight(plans, KernelShare(triton_time_ms=1.0, other_time_ms=0.0), THRESHOLD, report()) == plans


def test_a_kernel_too_light_to_matter_is_not_searched_at_all() -> None:
    """The conv_mish_bn shape of problem: a library convolution holds the time, the Triton kernel a sliver."""
    ev = FakeEvaluator(lambda c: 1.0)
    share = KernelShare(triton_time_ms=0.05, other_time_ms=4.95, triton_kernel_ms={KERNEL: 0.05})
    rep = tune(_candidate(), ev, FakeComparer(ev, 0.001), TuneSettings(stage="launch"), original_ms=5.0,
               kernels=share)
    assert rep.decision is Decision.REFUSED and ev.screened == 0 and ev.calls == 0
    assert rep.reason.startswith("nothing worth tuning") and KERNEL in rep.reason


def test_a_heavy_kernel_is_searched_as_before() -> None:
    ev = FakeEvaluator(lambda c: 1.0)
    share = KernelShare(triton_time_ms=0.9, other_time_ms=0.1, triton_kernel_ms={KERNEL: 0.9})
    tune(_candidate(), ev, FakeComparer(ev, 0.001), TuneSettings(stage="launch"), original_ms=1.0, kernels=share)
    assert ev.screened > 0


def test_the_tuned_codes_kernel_times_come_with_the_report() -> None:
    """The rewritten code's full check says where its GPU time went: the pipeline's next pass reads it."""
    ev = FakeEvaluator(lambda c: 0.5 if c.num_warps == 16 else 1.0)
    rep = tune(_candidate(), ev, FakeComparer(ev, 0.001), TuneSettings(stage="launch"), original_ms=1.0)
    assert rep.decision is Decision.KEEP, rep.reason
    assert rep.tuned_kernels is not None and rep.tuned_kernels.triton_kernel_ms == {KERNEL: rep.tuned_ms}


def _candidate():
    from tritonwright.candidate import Candidate

    return Candidate(source=MISH)
