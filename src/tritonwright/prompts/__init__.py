"""Prompt rendering: Jinja2 templates (package data) and pure render functions; see `render` for the API."""

from tritonwright.prompts.extras import EXTRA_NAMES, Extras, ExtrasError, Roofline, Timing, extras_from_data
from tritonwright.prompts.kind import KindDecision, KindDetectionError, classify_source, detect_kind
from tritonwright.prompts.metrics import (
    NO_METRICS,
    Metrics,
    MetricsFormatError,
    check_metrics,
    render_metrics,
)
from tritonwright.prompts.render import (
    Analysis,
    FailedAttempt,
    log_tail,
    render_analysis_prompt,
    render_gpu_header,
    render_optimization_prompt,
    render_repair_prompt,
    render_seed_prompt,
    render_stage_section,
)
from tritonwright.prompts.stages import DEFAULT_STYLE, KINDS, STAGES, STYLES, UnknownNameError

__all__ = [
    "DEFAULT_STYLE", "EXTRA_NAMES", "KINDS", "NO_METRICS", "STAGES", "STYLES", "Analysis",
    "Extras", "ExtrasError", "FailedAttempt", "KindDecision", "KindDetectionError", "Metrics", "MetricsFormatError",
    "Roofline", "Timing", "UnknownNameError", "check_metrics", "classify_source", "detect_kind", "extras_from_data",
    "log_tail", "render_analysis_prompt", "render_gpu_header", "render_metrics",
    "render_optimization_prompt", "render_repair_prompt", "render_seed_prompt", "render_stage_section",
]
