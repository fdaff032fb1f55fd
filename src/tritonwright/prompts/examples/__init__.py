"""Few-shot example pairs for the seed prompt, one per task kind: `<kind>_reference.py` (KernelBench
format) and `<kind>_triton.py` (its ModelNew). Read as text by the renderer; tests run them."""
