"""Nsight Compute profiling: collect (ncu in a child), parse (CSV -> ProfileReport), render (prompt JSON), stage rules."""
