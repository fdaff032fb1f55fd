"""Optional extras: off by default, each needs its data, and how each is printed."""

from __future__ import annotations

import pytest

from tritonwright.gpus import get_gpu
from tritonwright.prompts import (
    Extras,
    ExtrasError,
    Roofline,
    Timing,
    extras_from_data,
    render_optimization_prompt,
)

CODE = "class ModelNew:\n    pass\n"


def render(extras: Extras | None) -> str:
    return render_optimization_prompt(gpu=get_gpu("4090"), stage="memory_access", kind="single", code=CODE,
                                      extras=extras)


def test_default_and_empty_extras_add_nothing() -> None:
    assert render(None) == render(Extras())
    assert "No NCU metrics available\n\n**Task**" in render(None)


def test_all_extras_print_between_metrics_and_task_in_order() -> None:
    out = render(Extras(reference_code="import torch\n\n\n", input_shapes=("x: float16[8, 8]", "y: int64[8]"),
                        timing=Timing(0.25, eager_ms=1.0, compile_ms=0.5),
                        roofline=Roofline("compute", 61.234, arithmetic_intensity=128.0)))
    block = out.split("No NCU metrics available\n\n", 1)[1].split("**Task**", 1)[0]
    assert block == (
        "[REFERENCE CODE]\n```python\nimport torch\n```\n\n"
        "[INPUT SHAPES]\n- x: float16[8, 8]\n- y: int64[8]\n\n"
        "[CURRENT PERFORMANCE]\n- Current latency: 0.25 ms\n- vs PyTorch eager (1 ms): 4x speedup\n"
        "- vs torch.compile (0.5 ms): 2x speedup\n\n"
        "[ROOFLINE]\n- Compute-bound, at 61.2% of the tensor-core compute roof\n"
        "- Arithmetic intensity: 128 FLOP/byte\n\n"
    )


def test_timing_without_baselines_prints_latency_only() -> None:
    out = render(Extras(timing=Timing(0.123456)))
    assert "[CURRENT PERFORMANCE]\n- Current latency: 0.1235 ms\n\n**Task**" in out


def test_extras_from_data_builds_only_the_named_ones() -> None:
    data = {"input_shapes": ["x: float32[4]"], "timing": {"latency_ms": 1, "eager_ms": 2},
            "roofline": {"bound": "memory", "pct_of_roof": 90}}
    extras = extras_from_data(["timing"], data)
    assert extras == Extras(timing=Timing(1.0, 2.0))
    full = extras_from_data(["reference", "shapes", "timing", "roofline"], data, reference_code="ref")
    assert full.reference_code == "ref" and full.input_shapes == ("x: float32[4]",)
    assert full.roofline == Roofline("memory", 90.0)


@pytest.mark.parametrize(("names", "data", "message"), [
    (["speed"], {}, "unknown extra 'speed'"),
    (["shapes"], {}, "needs 'input_shapes'"),
    (["reference"], {}, "needs the reference task"),
    (["shapes"], {"input_shapes": "x: [4]"}, "non-empty list of strings"),
    (["timing"], {"timing": {"latency_ms": 0}}, "positive number"),
    (["timing"], {"timing": {"eager_ms": 1}}, "missing keys"),
    (["timing"], {"timing": {"latency_ms": 1, "median": 2}}, "unknown keys"),
    (["roofline"], {"roofline": {"bound": "latency", "pct_of_roof": 5}}, "memory, compute"),
    ([], {"speed": 1}, "unknown keys"),
])
def test_bad_extras_are_user_errors(names: list[str], data: dict[str, object], message: str) -> None:
    with pytest.raises(ExtrasError, match=message):
        extras_from_data(names, data)
