"""The render function reproduces the seed prompts byte for byte from the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tritonwright.gpus import get_gpu
from tritonwright.prompts import render_optimization_prompt

GOLDEN = Path(__file__).parent / "golden"
CASES = [  # (seed file, inputs stem, style, kind of the task the seed came from)
    ("000_61741dbe6900c556.txt", "000", "compact", "fusion"),
    ("003_42e0586be2c9d8a8.txt", "003", "verbose", "single"),
]


def render(stem: str, style: str, kind: str) -> str:
    return render_optimization_prompt(
        gpu=get_gpu("4090"), stage="advanced_memory", kind=kind, style=style,
        code=(GOLDEN / f"{stem}_code.py").read_text(encoding="utf-8"),
        metrics=json.loads((GOLDEN / f"{stem}_metrics.json").read_text(encoding="utf-8")),
    )


@pytest.mark.parametrize(("seed", "stem", "style", "kind"), CASES)
def test_render_equals_seed(seed: str, stem: str, style: str, kind: str) -> None:
    assert render(stem, style, kind).encode("utf-8") == (GOLDEN / seed).read_bytes()


@pytest.mark.parametrize(("seed", "stem", "style", "kind"), CASES)
def test_single_and_fusion_share_the_final_stage_text(seed: str, stem: str, style: str, kind: str) -> None:
    other = "single" if kind == "fusion" else "fusion"
    assert render(stem, style, other) == render(stem, style, kind)
    assert render(stem, style, "network") != render(stem, style, kind)


def test_windows_line_endings_in_the_candidate_do_not_change_the_prompt() -> None:
    code = (GOLDEN / "003_code.py").read_text(encoding="utf-8").replace("\n", "\r\n")
    out = render_optimization_prompt(gpu=get_gpu("4090"), stage="advanced_memory", kind="single", style="verbose",
                                     code=code + "\r\n\r\n",
                                     metrics=json.loads((GOLDEN / "003_metrics.json").read_text(encoding="utf-8")))
    assert out.encode("utf-8") == (GOLDEN / "003_42e0586be2c9d8a8.txt").read_bytes()
