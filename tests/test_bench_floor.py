"""Speed-of-light floor arithmetic: bytes and FLOPs from the tasks' own tensors (meta device), floors by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.floor import (
    Ceilings,
    Floor,
    TensorSpec,
    Traffic,
    dtype_size,
    floor_of,
    ratio_to_floor,
    task_traffic,
)
from tritonwright.task import load_task

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_tensor_bytes_from_shape_and_dtype():
    assert TensorSpec((4096, 393216), "float32").nbytes == 4096 * 393216 * 4
    assert TensorSpec((3, 5), "float16").nbytes == 30
    assert TensorSpec((), "float32").nbytes == 4  # a scalar holds one element
    with pytest.raises(ValueError, match="unknown dtype"):
        dtype_size("complex32x")


def test_memory_bound_floor_is_bytes_over_copy_bandwidth():
    t = Traffic(reads=(TensorSpec((1000,), "float32"),), writes=(TensorSpec((1000,), "float32"),))
    f = floor_of(t, Ceilings(copy_bytes_per_s=8e6))  # 8000 bytes at 8 MB/s: exactly 1 ms
    assert f == Floor(ms=pytest.approx(1.0), memory_ms=pytest.approx(1.0), compute_ms=None, limit="memory")


def test_compute_bound_floor_uses_the_rate_of_the_output_dtype():
    t = Traffic(reads=(TensorSpec((10,), "float16"),), writes=(TensorSpec((10,), "float16"),), flops=2_000_000,
                compute_dtype="float16")
    f = floor_of(t, Ceilings(copy_bytes_per_s=40e6, matmul_flops_per_s={"float16": 1e9, "float32": 1e6}))
    assert f.limit == "compute" and f.ms == pytest.approx(2.0)  # 2e6 FLOP at 1 GFLOP/s
    assert f.memory_ms == pytest.approx(40 / 40e6 * 1e3)
    # No rate for the dtype: the floor falls back to memory, and says so.
    g = floor_of(t, Ceilings(copy_bytes_per_s=40e6, matmul_flops_per_s={"float32": 1e6}))
    assert g.limit == "memory" and g.compute_ms is None


def test_ratio_to_floor():
    f = Floor(ms=2.0, memory_ms=2.0, compute_ms=None, limit="memory")
    assert ratio_to_floor(3.0, f) == pytest.approx(1.5)
    assert ratio_to_floor(None, f) is None and ratio_to_floor(1.0, None) is None
    with pytest.raises(ValueError):
        floor_of(Traffic(reads=(), writes=()), Ceilings(copy_bytes_per_s=0.0))


def test_traffic_round_trips_through_json_data():
    t = Traffic(reads=(TensorSpec((2, 3), "float16"),), writes=(TensorSpec((6,), "float32"),), flops=12,
                compute_dtype="float32")
    assert Traffic.from_dict(t.to_dict()) == t


def test_seed_elu_at_full_size_moves_its_input_and_output_once():
    t = task_traffic(load_task(EXAMPLES / "elu" / "task.py"))
    n = 4096 * 393216
    assert t.bytes_read == 4 * n and t.bytes_written == 4 * n and t.flops == 0
    assert t.reads == (TensorSpec((4096, 393216), "float32"),)


def test_matmul_and_gemm_flops_and_weights():
    mm = task_traffic(load_task(EXAMPLES / "matmul_fp16" / "task.py", {"M": "64", "N": "32", "K": "16"}))
    assert mm.flops == 2 * 64 * 32 * 16 and mm.compute_dtype == "float16"
    assert mm.bytes_moved == 2 * (64 * 16 + 16 * 32 + 64 * 32)
    gemm = task_traffic(load_task(EXAMPLES / "gemm_bias_relu" / "task.py",
                                  {"batch_size": "8", "in_features": "16", "out_features": "4"}))
    assert gemm.flops == 2 * 8 * 16 * 4
    # x, weight and bias are read; the output written (all float16).
    assert gemm.bytes_read == 2 * (8 * 16 + 4 * 16 + 4) and gemm.bytes_written == 2 * 8 * 4


def test_conv_flops_are_counted():
    t = task_traffic(load_task(EXAMPLES / "conv_mish_bn" / "task.py",
                               {"batch_size": "2", "in_channels": "3", "out_channels": "4", "height": "10",
                                "width": "10"}))
    assert t.flops == 2 * (2 * 4 * 8 * 8) * (3 * 3 * 3)  # 2 * outputs * (in_channels * kernel area)
    assert t.writes == (TensorSpec((2, 4, 8, 8), "float32"),)
