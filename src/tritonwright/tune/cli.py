"""`tritonwright tune TASK.py CANDIDATE.py`: parse flags, call search.tune, print the table and the decision."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tritonwright import options as opts
from tritonwright.candidate import read_candidate
from tritonwright.decision import Decision
from tritonwright.defaults import ASSUMED_GPU
from tritonwright.errors import UserInputError
from tritonwright.eval.runner import resolve_device
from tritonwright.eval.types import EvalConfig
from tritonwright.gpus.spec import GpuSpec, get_gpu
from tritonwright.task import load_task, parse_overrides
from tritonwright.tune.harness import HarnessComparer, HarnessEvaluator
from tritonwright.tune.neighbourhoods import TUNER_SPECS, gpu_limits
from tritonwright.tune.search import (
    DEFAULT_THRESHOLD,
    SEARCH_SHARE,
    TUNE_BUDGET_S,
    TuneReport,
    TuneSettings,
    tune,
)

ROWS_SHOWN = 12  # a wide search screens dozens of configs: the checked ones and the fastest dozen tell the story
COLOURS = {Decision.KEEP: "green", Decision.CHECKED: "green", Decision.REVERT: "yellow", Decision.REFUSED: "red"}


def render_report(report: TuneReport, console: Console, all_rows: bool = False) -> None:
    """The configs (verified ones and the fastest screened; every row with `all_rows`), notes, time, decision."""
    table = Table(title=f"tune ({report.stage})")
    for col in ("kernel", "config", "phase", "checked?", "median ms", "vs original"):
        table.add_column(col)
    rows = report.results
    if not all_rows and len(rows) > ROWS_SHOWN:
        screened = sorted((r for r in rows if not r.verified), key=lambda r: (not r.ok, r.median_ms or 0.0))
        rows = [r for r in rows if r.verified or r.original] + screened[:ROWS_SHOWN]
    for r in rows:
        vs = (f"{report.original_ms / r.median_ms:.3f}x" if r.median_ms and report.original_ms else "-")
        mark = ("yes" if r.verified else "screened only") if r.ok else f"no: {r.status} {r.reason[-80:]}"
        table.add_row(r.kernel, r.config.label + (" (original)" if r.original else ""), r.phase, mark,
                      f"{r.median_ms:.4f}" if r.median_ms is not None else "-", vs)
    if report.results:
        console.print(table)
        if len(rows) < len(report.results):
            console.print(f"({len(report.results) - len(rows)} more screened configs: --all)", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    for kernel, why in report.skipped:
        console.print(f"left alone: {kernel}: {why}", markup=False, highlight=False)
    for label, why in report.dropped[:ROWS_SHOWN]:
        console.print(f"not tried: {label}: {why}", markup=False, highlight=False)
    if len(report.dropped) > ROWS_SHOWN:
        console.print(f"not tried: {len(report.dropped) - ROWS_SHOWN} more configs outside the bounds",
                      highlight=False)
    if report.original_ms is not None:
        tuned = f", tuned code {report.tuned_ms:.4f} ms" if report.tuned_ms is not None else ""
        console.print(f"original {report.original_ms:.4f} ms{tuned}", highlight=False)
    if report.seconds:
        console.print(f"time: {report.time_line()}", highlight=False)
    colour = COLOURS[report.decision]
    console.print(f"[{colour}]{report.decision.value}[/{colour}] ", end="")
    console.print(f"{report.reason} (wall time {report.wall_s:.1f} s)", markup=False, highlight=False)


def target_gpu(name: str | None, device: str) -> GpuSpec:
    """The spec the search is bounded by: --gpu NAME, else the detected device, else (CPU) the assumed GPU."""
    if name:
        return get_gpu(name)
    if resolve_device(device) == "cuda":
        from tritonwright.gpus.detect import detect_gpu

        return detect_gpu().spec
    return get_gpu(ASSUMED_GPU)


def tune_command(
    task: Annotated[Path, typer.Argument(help="KernelBench task file (class Model, get_inputs, get_init_inputs)")],
    candidate: Annotated[Path, typer.Argument(help="Candidate file with class ModelNew and Triton kernels")],
    stage: Annotated[str, typer.Option(help="launch (every axis: tile sizes, warps, stages) | "
                                       + " | ".join(k for k in TUNER_SPECS if k != "launch"))] = "launch",
    freeze: Annotated[bool, typer.Option("--freeze", help="Write the winner as plain launch arguments")] = False,
    to: Annotated[Path | None, typer.Option("--to", help="Write the resulting code to this file")] = None,
    out: Annotated[Path | None, typer.Option("--out", hidden=True, help="Renamed --to (--out is the run-store "
                                             "folder everywhere)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every config, do not time (works on CPU)")]
    = False,
    threshold: Annotated[float, typer.Option(help="Minimum significant gain to keep the tuned code")]
    = DEFAULT_THRESHOLD,
    device: opts.Device = opts.DEVICE_DEFAULT,
    atol: opts.Atol = None,
    rtol: opts.Rtol = None,
    precision: opts.Precision = opts.PRECISION_DEFAULT,
    set_: opts.Set = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the config table as JSON here")] = None,
    all_rows: Annotated[bool, typer.Option("--all", help="List every screened config, not only the fastest")]
    = False,
    budget_s: Annotated[float, typer.Option(
        help=f"The pass's time: no screening starts past {SEARCH_SHARE:.0%} of it, the rest is for the full checks")]
    = TUNE_BUDGET_S,
    gpu: Annotated[str | None, typer.Option(help="GPU spec whose limits bound the search (default: detect; on a "
                                             f"CPU the assumed {ASSUMED_GPU})")] = None,
) -> None:
    """Tune num_warps, num_stages and BLOCK sizes of a candidate's Triton launches; keep only a real gain."""
    if out is not None:  # migration: tune --out used to name the code file; --out now always means a run store
        raise UserInputError(f"tune --out {out}: the file option is now --to (tune --to {out}); --out names "
                             "the run-store folder in every command")
    if stage not in TUNER_SPECS:
        raise UserInputError(f"--stage {stage}: one of {', '.join(TUNER_SPECS)}")
    if budget_s <= 0:
        raise UserInputError(f"--budget-s {budget_s:g}: must be > 0 seconds")
    t = load_task(task, parse_overrides(set_))
    cand = read_candidate(candidate)
    config = EvalConfig(device=device, atol=atol, rtol=rtol, baselines=False,
                        precision=opts.check_precision(precision))
    evaluator = HarnessEvaluator(t, config)
    comparer = None if dry_run else HarnessComparer(t, config)
    settings = TuneSettings(stage=stage, freeze=freeze, dry_run=dry_run, threshold=threshold, budget_s=budget_s,
                            limits=gpu_limits(target_gpu(gpu, device)))
    console = Console()
    started = time.monotonic()
    with console.status(f"tuning {candidate.name} ({stage}) ...") as status:
        def progress(step: str) -> None:
            if console.is_terminal:  # the spinner's line says what runs now
                status.update(f"tuning {candidate.name} ({stage}): {step} ...")
            else:  # a log or a pipe: one line per step, with the seconds so far
                console.print(f"[{time.monotonic() - started:7.1f} s] {step}", highlight=False)

        report = tune(cand, evaluator, comparer, settings, progress=progress)
    render_report(report, console, all_rows)
    if to is not None:
        to.write_text(report.candidate.source, encoding="utf-8")
        console.print(f"wrote {to}", highlight=False)
    if json_out is not None:
        rows = [{"kernel": r.kernel, "config": r.config.label, "params": r.config.as_dict(), "original": r.original,
                 "status": r.status, "reason": r.reason, "error": r.error, "median_ms": r.median_ms,
                 "round": r.round, "phase": r.phase, "screen_ms": r.screen_ms, "verified": r.verified,
                 "chosen": r.chosen} for r in report.results]  # the store's row fields, `config` as its label
        json_out.write_text(json.dumps({"decision": report.decision.value, "reason": report.reason,
                                        "original_ms": report.original_ms, "tuned_ms": report.tuned_ms,
                                        "wall_s": report.wall_s, "seconds": report.seconds,
                                        "notes": report.notes, "configs": rows,
                                        "winners": {k: c.label for k, c in report.winners.items()},
                                        "comparison": None if report.comparison is None else {
                                            "speedup": report.comparison.speedup,
                                            "noise": report.comparison.noise,
                                            "significant": report.comparison.significant}},
                                       indent=2), encoding="utf-8")
    if report.decision is Decision.REFUSED:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("tune")(tune_command)
