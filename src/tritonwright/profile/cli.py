"""`tritonwright profile TASK.py CANDIDATE.py` and `tritonwright profile --parse NCU.csv`: tables + prompt JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tritonwright.errors import UserInputError
from tritonwright.profile.collect import (
    CLOCK_CONTROLS,
    DEFAULT_NCU_TIMEOUT_S,
    ProfileOutcome,
    ProfileSettings,
    profile_candidate,
)
from tritonwright.profile.metrics import STAGES, prompt_metrics
from tritonwright.profile.parse import parse_csv
from tritonwright.profile.render import NO_METRICS, PeakRates, metrics_text, render_metrics_json, roofline
from tritonwright.profile.report import ProfileReport
from tritonwright.profile.rules import decide_all, decide_stage
from tritonwright.task import load_task, parse_overrides


def _split(text: str | None) -> tuple[str, ...]:
    return tuple(s.strip() for s in (text or "").split(",") if s.strip())


def _kernel_table(report: ProfileReport, names: tuple[str, ...], console: Console) -> None:
    for name, kernel in report.kernels.items():
        table = Table(title=f"{name} ({len(kernel.launches)} launch{'es' if len(kernel.launches) > 1 else ''})")
        table.add_column("metric")
        table.add_column("unit")
        for launch in kernel.launches:
            table.add_column(f"#{launch.id}", justify="right")
        for metric in names:
            if not any(metric in launch.metrics for launch in kernel.launches):
                continue
            unit = next(launch.metrics[metric].unit for launch in kernel.launches if metric in launch.metrics)
            cells = []
            for launch in kernel.launches:
                m = launch.metrics.get(metric)
                value = "-" if m is None or m.value is None else (
                    f"{m.value:,.2f}" if isinstance(m.value, float) else
                    f"{m.value:,}" if isinstance(m.value, int) else str(m.value))
                cells.append(value)
            table.add_row(metric, unit, *cells)
        console.print(table)


def _print_report(report: ProfileReport, stage: str | None, extra: tuple[str, ...], peaks: PeakRates | None,
                  console: Console) -> dict[str, object]:
    shown = tuple(dict.fromkeys([*prompt_metrics(stage), *extra]))
    _kernel_table(report, tuple(dict.fromkeys([*shown, "gpu__time_duration.sum"])), console)
    decisions = [decide_stage(report, stage)] if stage else decide_all(report)
    for d in decisions:
        console.print(f"stage {d.stage}: {'skip' if d.skip else 'run'} - ", end="", highlight=False)
        console.print(d.reason, markup=False, highlight=False)
    points = roofline(report, peaks) if peaks else {}
    for p in points.values():
        bw = f"{p.dram_bytes_per_s / 1e9:,.0f} GB/s" if p.dram_bytes_per_s is not None else "-"
        share = f" ({p.dram_share_of_peak:.0%} of {peaks.dram_bytes_per_s / 1e9:,.0f})" if (
            peaks and p.dram_share_of_peak is not None) else ""
        flops = f"{p.fp32_flops_per_s / 1e12:.2f} FP32 TFLOP/s" if p.fp32_flops_per_s is not None else "-"
        console.print(f"roofline {p.kernel}: {bw}{share}, {flops}", highlight=False)
    prompt = render_metrics_json(report, shown)
    console.print("[NCU PROFILING METRICS]", markup=False)
    console.print(json.dumps(prompt, indent=2), markup=False, highlight=False)
    return {"prompt_metrics": prompt, "decisions": [d.to_dict() for d in decisions],
            "roofline": {k: p.to_dict() for k, p in points.items()}}


def _write_json(path: Path | None, data: dict[str, object]) -> None:
    if path is not None:
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def profile_command(
    task: Annotated[Path | None, typer.Argument(help="Task file (KernelBench format)")] = None,
    candidate: Annotated[Path | None, typer.Argument(help="Candidate file with class ModelNew")] = None,
    stage: Annotated[str | None, typer.Option(help=f"Stage whose metrics to add: {', '.join(STAGES)}")] = None,
    metrics: Annotated[str | None, typer.Option(help="Extra metrics, comma-separated")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write outcome, prompt JSON and rules here")] = None,
    parse: Annotated[Path | None, typer.Option(help="Render a saved ncu CSV (--csv --page raw); no GPU")] = None,
    names: Annotated[str | None, typer.Option(help="With --parse: keep only these kernels (exact names)")] = None,
    ncu: Annotated[str | None, typer.Option(help="Path of the ncu executable")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before ncu is killed")] = DEFAULT_NCU_TIMEOUT_S,
    launches: Annotated[int, typer.Option(min=1, help="Launches profiled per kernel")] = 1,
    clock_control: Annotated[str, typer.Option(help=f"ncu --clock-control: {', '.join(CLOCK_CONTROLS)}")] = "none",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a task constant NAME=VALUE")] = None,
    peak_dram_gbps: Annotated[float | None, typer.Option(help="Peak DRAM GB/s, for roofline shares")] = None,
    peak_fp32_tflops: Annotated[float | None, typer.Option(help="Peak FP32 TFLOP/s, for roofline shares")] = None,
) -> None:
    """Profile a candidate's Triton kernels with Nsight Compute, or render a saved ncu CSV."""
    console = Console()
    if stage is not None and stage not in STAGES:
        raise UserInputError(f"--stage {stage}: unknown stage; stages: {', '.join(STAGES)}")
    extra = _split(metrics)
    peaks = PeakRates(peak_dram_gbps * 1e9, peak_fp32_tflops * 1e12 if peak_fp32_tflops else None, "--peak-*") \
        if peak_dram_gbps else None
    if parse is not None:
        if task is not None or candidate is not None:
            raise UserInputError("--parse renders a saved CSV: give either --parse NCU.csv or TASK.py CANDIDATE.py")
        if not parse.is_file():
            raise UserInputError(f"{parse}: file not found")
        kernel_names = _split(names) or None
        report = parse_csv(parse.read_text(encoding="utf-8", errors="replace"), kernels=kernel_names)
        if not report.kernels:
            console.print(metrics_text(None, reason=f"no kernel rows in {parse}"), markup=False)
            _write_json(json_out, {"status": "NO_DATA", "report": report.to_dict()})
            raise typer.Exit(1)
        _write_json(json_out, {"status": "OK", **_print_report(report, stage, extra, peaks, console),
                               "report": report.to_dict()})
        return
    if task is None or candidate is None:
        raise UserInputError("give TASK.py CANDIDATE.py to profile, or --parse NCU.csv to render a saved CSV")
    if not candidate.is_file():
        raise UserInputError(f"{candidate}: candidate file not found")
    if clock_control not in CLOCK_CONTROLS:
        raise UserInputError(f"--clock-control {clock_control}: expected one of {', '.join(CLOCK_CONTROLS)}")
    loaded = load_task(task, parse_overrides(set_))
    settings = ProfileSettings(stage=stage, metrics=extra, launches=launches, clock_control=clock_control,
                               timeout_s=timeout, ncu_path=ncu)
    outcome: ProfileOutcome = profile_candidate(loaded, str(candidate), settings)
    for note in outcome.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if not outcome.ok or outcome.report is None:
        console.print(f"{NO_METRICS}: {outcome.reason}", markup=False, highlight=False)
        _write_json(json_out, outcome.to_dict())
        raise typer.Exit(1)
    rendered = _print_report(outcome.report, stage, extra, peaks, console)
    console.print(f"profiled in {outcome.wall_s:.1f} s on {outcome.report.device or '?'}", highlight=False)
    _write_json(json_out, {**outcome.to_dict(), **rendered})


def register(app: typer.Typer) -> None:
    app.command("profile")(profile_command)
