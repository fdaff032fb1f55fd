"""The tuner's evaluator and comparer: the same harness adapters the optimizer uses (executors.harness)."""

from tritonwright.executors.harness import AB_ROUNDS, HarnessComparer, HarnessEvaluator

__all__ = ["AB_ROUNDS", "HarnessComparer", "HarnessEvaluator"]
