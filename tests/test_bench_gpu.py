"""GPU: the ceilings job measures plausible rates (skipped where no CUDA device is visible)."""

from __future__ import annotations

import pytest

from tritonwright import ceilings


@pytest.mark.gpu
def test_copy_bandwidth_and_matmul_rate_are_measured():
    copy = ceilings.copy_bandwidth(nbytes=1 << 30, reps=5)
    assert 1e11 < copy.median <= copy.best < 2e13  # 100 GB/s .. 20 TB/s: any GPU of this decade
    fp16 = ceilings.matmul_rate("float16", n=4096, reps=3)
    assert 1e12 < fp16.median <= fp16.best < 5e15
