"""An A/B's first look (eval.runner.settled_early): a decision is taken after the first rounds only when
every round agrees and the median clears the threshold by a widened band; anything closer runs every round."""

from __future__ import annotations

import pytest

from tritonwright.eval.runner import EARLY_LOOK_ROUNDS, decide, settled_early

THRESHOLD = 0.02


def first_look(ratios: list[float]):
    """A first look whose rounds have these time(A)/time(B) ratios (B timed at 1 ms)."""
    assert len(ratios) == EARLY_LOOK_ROUNDS
    return decide([r * 1.0 for r in ratios], [1.0] * len(ratios), THRESHOLD)


@pytest.mark.parametrize(("ratios", "settled"), [
    ([1.30, 1.31, 1.29, 1.30, 1.32, 1.30], True),  # a 30% gain in every round
    ([0.80, 0.81, 0.79, 0.80, 0.80, 0.82], True),  # clearly slower
    ([1.000, 1.002, 0.998, 1.001, 0.999, 1.000], True),  # the same code: nowhere near the 2% bar
    ([1.025, 1.035, 1.015, 1.03, 1.02, 1.04], False),  # a 2.5-3% gain with ~1% noise: every round it is
    ([1.30, 1.31, 1.29, 1.30, 1.32, 0.99], False),  # one round disagrees
    ([1.05, 1.00, 1.10, 1.02, 1.08, 1.04], False),  # noisy around a small gain
])
def test_only_a_clear_first_look_settles_the_ab(ratios: list[float], settled: bool) -> None:
    c = first_look(ratios)
    assert settled_early(c, THRESHOLD) is settled, (c.speedup, c.noise)


def test_a_settled_first_look_agrees_with_the_decision_it_stands_for() -> None:
    fast = first_look([1.30, 1.31, 1.29, 1.30, 1.32, 1.30])
    slow = first_look([0.80, 0.81, 0.79, 0.80, 0.80, 0.82])
    assert fast.significant and not slow.significant
