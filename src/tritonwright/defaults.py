"""Defaults that more than one module needs, each defined once with the reason for its value.

Nothing here imports from the package, so any module may import it.
"""

from __future__ import annotations

# Keep a change only when it is >= 2% faster beyond the 95% noise band: in the seed runs a third of smaller
# "gains" were noise. Used by the pipeline's keep/revert, the tuner and the evaluator's A/B comparison.
KEEP_THRESHOLD = 0.02
AB_ROUNDS = 10  # interleaved rounds of an A/B comparison: enough for a median and a 95% noise band
# The four optimisation stages, in order; the prompts, the profiler's stage rules and the pipeline share them.
STAGES: tuple[str, ...] = ("grid_and_parallel", "block_tiling", "memory_access", "advanced_memory")
# The GPU a CPU run assumes (prompts need a target; tuner bounds need limits): the most common one, said so.
ASSUMED_GPU = "H100 SXM"
