"""Prompt rendering: pure functions from plain inputs to the exact prompt text.

    render_gpu_header(gpu: GpuSpec) -> str
    render_stage_section(stage: str, kind: str, style: str, gpu: GpuSpec) -> str
    render_optimization_prompt(*, gpu: GpuSpec, stage: str, kind: str, code: str,
                               metrics: Metrics | None = None, style: str = "compact",
                               extras: Extras | None = None) -> str
    render_seed_prompt(*, gpu: GpuSpec, kind: str, reference_code: str, extras: Extras | None = None) -> str
    render_analysis_prompt(*, status: str, error_log: str, reference_code: str, broken_code: str) -> str
    render_repair_prompt(*, gpu: GpuSpec, status: str, error_log: str, reference_code: str,
                         broken_code: str, analysis: Analysis,
                         history: Sequence[FailedAttempt] = ()) -> str

`metrics` is kernel name -> {metric: value} (one launch) or kernel name -> [{metric: value}, ...]
(several launches), as `tritonwright.prompts.metrics` documents; None or {} prints "No NCU metrics
available". Stage, kind and style names are checked (UnknownNameError lists the valid ones). With the
defaults (no extras) the optimization prompt is byte for byte the seed prompts' format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from tritonwright.gpus.spec import GpuSpec
from tritonwright.prompts.engine import render_template
from tritonwright.prompts.extras import Extras
from tritonwright.prompts.metrics import Metrics, render_metrics
from tritonwright.prompts.stages import DEFAULT_STYLE, KINDS, STAGES, STYLES, check_choice, stage_targets

LOG_TAIL_LINES = 60  # the failing frame and message sit at the end of a traceback or compiler log
LOG_TAIL_CHARS = 6000  # bounds a log of a few huge lines (a dumped tensor) all the same
MAX_HISTORY = 5  # older failed attempts mostly repeat the recent ones and cost tokens
SUMMARY_CHARS = 300  # one failed attempt is one line in the history


@dataclass(frozen=True)
class Analysis:
    critical_issue: str
    why_it_matters: str
    minimal_fix_hint: str


@dataclass(frozen=True)
class FailedAttempt:
    """An earlier repair attempt that still failed: its status (e.g. COMPILE_ERROR) and what went wrong."""

    status: str
    summary: str


def _code(text: str) -> str:
    """Code as it goes inside a fence: Unix newlines, no blank lines around it."""
    return text.replace("\r\n", "\n").strip("\n")


def log_tail(text: str, max_lines: int = LOG_TAIL_LINES, max_chars: int = LOG_TAIL_CHARS) -> str:
    """The end of a log, marked when cut, so the model knows lines above were dropped."""
    lines = _code(text).split("\n")
    tail = "\n".join(lines[-max_lines:])
    if len(tail) > max_chars:
        tail = tail[-max_chars:]
    return tail if tail == _code(text) else "[... earlier output cut ...]\n" + tail


def render_gpu_header(gpu: GpuSpec) -> str:
    return render_template("gpu_header.j2", gpu=gpu)


def render_stage_section(stage: str, kind: str, style: str, gpu: GpuSpec) -> str:
    check_choice("stage", stage, STAGES)
    check_choice("kind", kind, KINDS)
    check_choice("style", style, STYLES)
    return render_template(f"stages/{style}/{stage}.j2", kind=kind, t=stage_targets(stage, gpu.sm_count))


def _extras_section(extras: Extras) -> str:
    if extras.is_empty():
        return ""
    if extras.reference_code is not None:
        extras = Extras(_code(extras.reference_code), extras.input_shapes, extras.timing, extras.roofline)
    return render_template("extras.j2", extras=extras)


def render_optimization_prompt(*, gpu: GpuSpec, stage: str, kind: str, code: str, metrics: Metrics | None = None,
                               style: str = DEFAULT_STYLE, extras: Extras | None = None) -> str:
    return render_template(
        "optimize.j2",
        gpu_header=render_gpu_header(gpu),
        stage_section=render_stage_section(stage, kind, style, gpu),
        code=_code(code),
        metrics=render_metrics(metrics),
        extras_section=_extras_section(extras or Extras()),
    )


def example_pair(kind: str) -> tuple[str, str]:
    """The few-shot (reference, Triton) sources shown in the seed prompt for this task kind."""
    check_choice("kind", kind, KINDS)
    folder = resources.files("tritonwright.prompts.examples")
    reference = folder.joinpath(f"{kind}_reference.py").read_text(encoding="utf-8")
    triton_version = folder.joinpath(f"{kind}_triton.py").read_text(encoding="utf-8")
    return _code(reference), _code(triton_version)


def render_seed_prompt(*, gpu: GpuSpec, kind: str, reference_code: str, extras: Extras | None = None) -> str:
    extras = extras or Extras()
    if extras.reference_code is not None:
        raise ValueError("the seed prompt always shows the reference code; do not pass it again as an extra")
    reference, triton_version = example_pair(kind)
    return render_template(
        "seed.j2",
        gpu_header=render_gpu_header(gpu),
        kind=kind,
        example_reference=reference,
        example_triton=triton_version,
        reference_code=_code(reference_code),
        extras_section=_extras_section(extras),
    )


def render_analysis_prompt(*, status: str, error_log: str, reference_code: str, broken_code: str) -> str:
    return render_template("analysis.j2", status=status, error_log=log_tail(error_log),
                           reference_code=_code(reference_code), broken_code=_code(broken_code))


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 3] + "..."


def render_repair_prompt(*, gpu: GpuSpec, status: str, error_log: str, reference_code: str, broken_code: str,
                         analysis: Analysis, history: Sequence[FailedAttempt] = ()) -> str:
    recent = [FailedAttempt(a.status, _one_line(a.summary)) for a in list(history)[-MAX_HISTORY:]]
    return render_template(
        "repair.j2",
        gpu_header=render_gpu_header(gpu),
        status=status,
        error_log=log_tail(error_log),
        history=recent,
        analysis=analysis,
        reference_code=_code(reference_code),
        broken_code=_code(broken_code),
    )
