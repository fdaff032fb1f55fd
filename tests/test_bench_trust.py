"""Trust summaries from plain decision data: false-"faster" counts, measured slowdowns, spread of medians."""

from __future__ import annotations

import pytest

from bench.trust import TrustSpec, repeated_medians, spread, summarize


def _d(speedup: float, significant: bool, a_ms: float = 1.0, ratios: list[float] | None = None) -> dict:
    return {"speedup": speedup, "noise": 0.004, "significant": significant, "reason": "",
            "a_median_ms": a_ms, "b_median_ms": a_ms / speedup, "ratios": ratios or [speedup]}


def test_summarize_counts_decisions_that_said_faster():
    s = summarize([_d(1.0, False), _d(1.05, True), _d(1.052, True), _d(0.99, False)])
    assert s["n"] == 4 and s["said_faster"] == 2 and s["rate"] == 0.5
    assert s["speedup_median"] == pytest.approx((1.0 + 1.05) / 2)
    assert s["speedup_min"] == 0.99 and s["speedup_max"] == 1.052
    assert summarize([]) == {"n": 0, "said_faster": 0, "rate": None}


def test_spread_of_repeated_medians_by_hand():
    s = spread([1.0, 1.0, 1.02, 0.98, 1.0])
    assert s["median_ms"] == 1.0
    assert s["rel_range"] == pytest.approx(0.04)
    assert s["rel_iqr"] == pytest.approx(0.0)  # quartiles 1.0 and 1.0 (inclusive method)
    assert s["cv"] == pytest.approx(0.01414213, rel=1e-4)
    assert spread([1.0]) == {"n": 1}


def test_repeated_medians_uses_the_a_side_and_every_round():
    aa = [_d(1.0, False, 2.0, [1.0, 1.01]), _d(1.0, False, 2.02, [0.99, 1.0])]
    r = repeated_medians(aa)
    assert r["per_decision"]["n"] == 2 and r["per_decision"]["rel_range"] == pytest.approx(0.02 / 2.01)
    assert r["round_ratio"] == {"n": 4, "min": 0.99, "max": 1.01, "rel_iqr": pytest.approx(0.005)}  # Q1 0.9975, Q3 1.0025


def test_trust_spec_from_plain_data():
    s = TrustSpec.from_dict({"task": "t.py", "candidate": "c.py", "overrides": {"batch_size": 1024},
                             "decisions": 50, "threshold": 0.02, "rounds": 10, "slowdowns": [[0.03, 30], [0.05, 50]],
                             "timing": {"budget_ms": 100}})
    assert s.overrides == (("batch_size", "1024"),) and s.slowdowns == ((0.03, 30), (0.05, 50))
    assert s.timing == (("budget_ms", 100.0),) and s.calibrations == 2
    hash(s)  # frozen and hashable, as every spec
