"""`tritonwright tune TASK.py CANDIDATE.py`: parse flags, call search.tune, print the table and the decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tritonwright.candidate import read_candidate
from tritonwright.errors import UserInputError
from tritonwright.eval.types import EvalConfig
from tritonwright.task import load_task, parse_overrides
from tritonwright.tune.harness import HarnessComparer, HarnessEvaluator
from tritonwright.tune.neighbourhoods import STAGE_SPECS
from tritonwright.tune.search import DEFAULT_THRESHOLD, Decision, TuneReport, TuneSettings, tune


def render_report(report: TuneReport, console: Console) -> None:
    table = Table(title=f"tune ({report.stage})")
    for col in ("kernel", "config", "round", "correct?", "median ms", "vs original"):
        table.add_column(col)
    for r in report.results:
        vs = (f"{report.original_ms / r.median_ms:.3f}x" if r.median_ms and report.original_ms else "-")
        mark = "yes" if r.ok else f"no: {r.status} {r.reason[:60]}"
        table.add_row(r.kernel, r.config.label + (" (original)" if r.original else ""), str(r.round), mark,
                      f"{r.median_ms:.4f}" if r.median_ms is not None else "-", vs)
    if report.results:
        console.print(table)
    for kernel, why in report.skipped:
        console.print(f"left alone: {kernel}: {why}", markup=False, highlight=False)
    for label, why in report.dropped:
        console.print(f"not tried: {label}: {why}", markup=False, highlight=False)
    if report.original_ms is not None:
        tuned = f", tuned code {report.tuned_ms:.4f} ms" if report.tuned_ms is not None else ""
        console.print(f"original {report.original_ms:.4f} ms{tuned}", highlight=False)
    colour = {"KEEP": "green", "CHECKED": "green", "REVERT": "yellow", "REFUSED": "red"}[report.decision.value]
    console.print(f"[{colour}]{report.decision.value}[/{colour}] ", end="")
    console.print(f"{report.reason} (wall time {report.wall_s:.1f} s)", markup=False, highlight=False)


def tune_command(
    task: Annotated[Path, typer.Argument(help="KernelBench task file (class Model, get_inputs, get_init_inputs)")],
    candidate: Annotated[Path, typer.Argument(help="Candidate file with class ModelNew and Triton kernels")],
    stage: Annotated[str, typer.Option(help=" | ".join(STAGE_SPECS))] = "advanced_memory",
    freeze: Annotated[bool, typer.Option("--freeze", help="Write the winner as plain launch arguments")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write the resulting code here")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every config, do not time (works on CPU)")]
    = False,
    threshold: Annotated[float, typer.Option(help="Minimum significant gain to keep the tuned code")]
    = DEFAULT_THRESHOLD,
    device: Annotated[str, typer.Option(help="auto | cuda | cpu (cpu: interpreter, --dry-run only)")] = "auto",
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance (default per dtype)")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance (default per dtype)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a task constant: NAME=VALUE")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the config table as JSON here")] = None,
) -> None:
    """Tune num_warps, num_stages and BLOCK sizes of a candidate's Triton launches; keep only a real gain."""
    if stage not in STAGE_SPECS:
        raise UserInputError(f"--stage {stage}: one of {', '.join(STAGE_SPECS)}")
    t = load_task(task, parse_overrides(set_))
    cand = read_candidate(candidate)
    config = EvalConfig(device=device, atol=atol, rtol=rtol, baselines=False)
    evaluator = HarnessEvaluator(t, config)
    comparer = None if dry_run else HarnessComparer(t, config)
    settings = TuneSettings(stage=stage, freeze=freeze, dry_run=dry_run, threshold=threshold)
    console = Console()
    with console.status(f"tuning {candidate.name} ({stage}) ..."):
        report = tune(cand, evaluator, comparer, settings)
    render_report(report, console)
    if out is not None:
        out.write_text(report.candidate.source, encoding="utf-8")
        console.print(f"wrote {out}", highlight=False)
    if json_out is not None:
        rows = [{"kernel": r.kernel, "config": r.config.label, "original": r.original, "status": r.status,
                 "reason": r.reason, "median_ms": r.median_ms, "round": r.round} for r in report.results]
        json_out.write_text(json.dumps({"decision": report.decision.value, "reason": report.reason,
                                        "original_ms": report.original_ms, "tuned_ms": report.tuned_ms,
                                        "wall_s": report.wall_s, "configs": rows,
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
