"""Input seeds are fresh and secret per evaluation: a candidate that regenerates the inputs from the default
seed and computes the answer for those is right only when the seed is fixed."""

from __future__ import annotations

from pathlib import Path

from tests.test_eval_cpu import CPU, candidate
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import EvalConfig, Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"

GUESS = """
    self.calls = getattr(self, "calls", 0) + 1  # trial i's inputs come from seed + 1 + i with a known seed
    g = torch.Generator().manual_seed(42 + self.calls)
    guess = torch.randn(x.shape, generator=g)
    return launch(guess, torch.empty_like(x), self.scale)
"""


def test_a_candidate_that_regenerates_the_inputs_passes_only_with_a_fixed_seed() -> None:
    task = load_task(FIXTURES / "scale_task.py", {"n": "800"})
    fixed = EvalConfig(**{**CPU.__dict__, "trials": 2, "seed": 42, "secret_seeds": False})
    assert evaluate(task, candidate(GUESS), fixed).status is Status.OK  # the attack works against a known seed
    secret = EvalConfig(**{**CPU.__dict__, "trials": 2})
    r = evaluate(task, candidate(GUESS), secret)
    assert r.status is Status.MISMATCH, r.reason
    assert r.seed is not None and r.seed != 42  # recorded after the verdict, to repeat it with --seed


def test_every_evaluation_draws_its_own_seed() -> None:
    task = load_task(FIXTURES / "scale_task.py", {"n": "300"})
    good = candidate("return launch(x, torch.empty_like(x), self.scale)")
    seeds = {evaluate(task, good, CPU).seed for _ in range(3)}
    assert len(seeds) == 3
