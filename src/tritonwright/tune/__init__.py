"""Deterministic launch tuner: AST analysis of Triton launches, neighbourhoods as data, rewrite, checked search.

No LLM: `analysis` reads kernels and launch sites, `neighbourhoods` lists configs with a reason beside each
bound, `rewrite` writes `@triton.autotune` or frozen launch arguments, `search` checks every config and keeps
the winner only when an A/B comparison says it is significantly faster.
"""
