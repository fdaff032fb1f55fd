"""`tritonwright prompt`: print one optimization-stage prompt exactly as the pipeline would send it.

    tritonwright prompt --stage STAGE --code CANDIDATE.py [--gpu NAME|auto] [--metrics METRICS.json]
                        [--kind single|fusion|network] [--style compact|verbose] [--task TASK.py]
                        [--extras reference,shapes,timing,roofline] [--extras-data EXTRAS.json]

The prompt goes to stdout as UTF-8 bytes, unchanged; notes (the detected task kind) go to stderr.
Without --kind, the kind is read from --task's Model, or else from the candidate's ModelNew.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tritonwright.errors import UserInputError
from tritonwright.gpus.detect import detect_gpu
from tritonwright.gpus.spec import GpuSpec, get_gpu
from tritonwright.prompts.extras import EXTRA_NAMES, Extras, extras_from_data
from tritonwright.prompts.kind import classify_source
from tritonwright.prompts.metrics import Metrics, check_metrics
from tritonwright.prompts.render import render_optimization_prompt
from tritonwright.prompts.stages import DEFAULT_STYLE, KINDS, STAGES, STYLES, check_choice
from tritonwright.task import load_task

AUTO_GPU = "auto"


class PromptInputError(UserInputError):
    """A file given to `tritonwright prompt` cannot be read or parsed."""


def write_utf8(text: str) -> None:
    """Write `text` to stdout as UTF-8 whatever the locale, so '•' and '∈' survive a C locale."""
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
        return
    sys.stdout.flush()
    buffer.write(text.encode("utf-8"))
    buffer.flush()


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptInputError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PromptInputError(f"{path}: cannot read {what}: {exc}") from None


def _json(path: Path, what: str) -> Any:
    try:
        return json.loads(_read(path, what))
    except json.JSONDecodeError as exc:
        raise PromptInputError(f"{path}:{exc.lineno}: {what} is not valid JSON: {exc.msg}") from None


def resolve_gpu(name: str) -> GpuSpec:
    """A table GPU by name, or with "auto" the running device (its measured figures win)."""
    if name.lower() != AUTO_GPU:
        return get_gpu(name)
    detection = detect_gpu()
    for note in detection.notes:
        typer.echo(f"note: {note}", err=True)
    return detection.spec


def _kind(kind: str | None, task_source: tuple[str, str] | None, code: str, code_path: Path) -> str:
    if kind is not None:
        return check_choice("kind", kind, KINDS)
    source, path = task_source or (code, str(code_path))
    decision = classify_source(source, path)
    typer.echo(f"note: task kind {decision.kind} ({decision.reason}); --kind overrides", err=True)
    return decision.kind


def _extras(names: str | None, data_path: Path | None, reference: str | None) -> Extras:
    if names is None:
        if data_path is not None:
            raise PromptInputError("--extras-data given without --extras; name the extras to include "
                                   f"({', '.join(EXTRA_NAMES)})")
        return Extras()
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    data = _json(data_path, "extras data file") if data_path is not None else None
    return extras_from_data(wanted, data, reference)


def prompt_command(
    stage: Annotated[str, typer.Option(help=f"optimization stage: {', '.join(STAGES)}")],
    code: Annotated[Path, typer.Option(help="current candidate (ModelNew) source file")],
    gpu: Annotated[str, typer.Option(help="GPU name from `tritonwright gpus`, or 'auto' to detect")] = AUTO_GPU,
    metrics: Annotated[Path | None, typer.Option(help="JSON: kernel -> {metric: value} or [{...}, ...]")] = None,
    kind: Annotated[str | None, typer.Option(help=f"task kind: {', '.join(KINDS)} (default: detected)")] = None,
    style: Annotated[str, typer.Option(help=f"stage text style: {', '.join(STYLES)}")] = DEFAULT_STYLE,
    task: Annotated[Path | None, typer.Option(help="reference task file: kind detection, --extras reference")]
    = None,
    extras: Annotated[str | None, typer.Option(help=f"comma list of extras: {', '.join(EXTRA_NAMES)}")] = None,
    extras_data: Annotated[Path | None, typer.Option(help="JSON with input_shapes / timing / roofline")] = None,
) -> None:
    """Print the optimization prompt for one stage."""
    check_choice("stage", stage, STAGES)
    check_choice("style", style, STYLES)
    if kind is not None:
        check_choice("kind", kind, KINDS)
    spec = resolve_gpu(gpu)
    code_text = _read(code, "candidate file")
    metric_data: Metrics | None = check_metrics(_json(metrics, "metrics file")) if metrics is not None else None
    task_source = None
    if task is not None:
        loaded = load_task(task)
        task_source = (loaded.source, loaded.path)
    chosen_extras = _extras(extras, extras_data, task_source[0] if task_source else None)
    text = render_optimization_prompt(gpu=spec, stage=stage, kind=_kind(kind, task_source, code_text, code),
                                      code=code_text, metrics=metric_data, style=style, extras=chosen_extras)
    write_utf8(text)


def register(app: typer.Typer) -> None:
    app.command("prompt")(prompt_command)
