"""Every stage x kind x style renders completely; thresholds and GPU figures reach the text."""

from __future__ import annotations

import itertools
import re

import pytest

from tritonwright.errors import UserInputError
from tritonwright.gpus import get_gpu
from tritonwright.prompts import KINDS, STAGES, STYLES, UnknownNameError, render_optimization_prompt
from tritonwright.prompts import stages as stage_data
from tritonwright.prompts.render import render_stage_section

LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}|\bNone\b|Undefined")
SECTIONS = ["# Target GPU\n", "[OPTIMIZATION STAGE]\n", "## Current Optimization Stage\n", "[CURRENT CODE]\n",
            "[NCU PROFILING METRICS]\n", "**Task**: ", "OUTPUT RULES (STRICT):\n"]
CODE = "import torch\n\nclass ModelNew(torch.nn.Module):\n    pass\n"


@pytest.mark.parametrize(("stage", "kind", "style"), list(itertools.product(STAGES, KINDS, STYLES)))
def test_every_combination_renders_without_leftovers(stage: str, kind: str, style: str) -> None:
    out = render_optimization_prompt(gpu=get_gpu("H100 SXM"), stage=stage, kind=kind, style=style, code=CODE)
    assert not LEFTOVER.search(out), LEFTOVER.search(out)
    positions = [out.index(section) for section in SECTIONS]
    assert positions == sorted(positions)
    section = render_stage_section(stage, kind, style, get_gpu("H100 SXM"))
    assert section in out and section.endswith("\n") and not section.endswith("\n\n")
    assert ("Focus:" if style == "compact" else "**Focus**:") in section
    assert ("Autotune:" if style == "compact" else "**Autotune Tip (safe)**:") in section


@pytest.mark.parametrize(("stage", "style"), list(itertools.product(STAGES, STYLES)))
def test_network_text_differs_from_single_op_text(stage: str, style: str) -> None:
    gpu = get_gpu("4090")
    texts = {kind: render_stage_section(stage, kind, style, gpu) for kind in KINDS}
    assert texts["network"] != texts["single"]
    if stage != "advanced_memory":  # the final micro-tuning is the same for one op and a fused chain
        assert len(set(texts.values())) == 3


@pytest.mark.parametrize("style", STYLES)
def test_stages_other_than_the_last_quote_their_metrics_with_thresholds(style: str) -> None:
    gpu = get_gpu("T4")
    grid = render_stage_section("grid_and_parallel", "single", style, gpu)
    assert stage_data.SM_THROUGHPUT in grid and f"{stage_data.SM_BUSY_PCT}%" in grid
    assert f"{stage_data.MIN_WAVES * 40}" in grid and "40 SMs" in grid  # sized by the GPU's SM count
    tiling = render_stage_section("block_tiling", "fusion", style, gpu)
    assert stage_data.WARPS_ACTIVE in tiling and f"{stage_data.OCCUPANCY_OK_PCT}%" in tiling
    memory = render_stage_section("memory_access", "network", style, gpu)
    assert stage_data.LONG_SCOREBOARD in memory and f"{stage_data.MEM_STALL_OK_PCT}%" in memory
    final = render_stage_section("advanced_memory", "network", style, gpu)
    assert f"{stage_data.L2_HIT_OK_PCT}%" in final and f"{stage_data.FINAL_STALL_OK_PCT}%" in final


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stage": "tiling"}, "unknown stage 'tiling'; valid stages: grid_and_parallel, block_tiling, memory_access, "
                          "advanced_memory"),
    ({"kind": "level2"}, "unknown kind 'level2'; valid kinds: single, fusion, network"),
    ({"style": "terse"}, "unknown style 'terse'; valid styles: compact, verbose"),
])
def test_unknown_names_list_the_valid_ones(kwargs: dict[str, str], message: str) -> None:
    args = {"stage": "block_tiling", "kind": "single", "style": "compact", **kwargs}
    with pytest.raises(UnknownNameError) as info:
        render_optimization_prompt(gpu=get_gpu("4090"), code=CODE, **args)
    assert str(info.value) == message
    assert isinstance(info.value, UserInputError)
