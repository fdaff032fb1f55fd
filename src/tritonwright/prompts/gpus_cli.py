"""`tritonwright gpus [NAME] [--detect] [--sources]`: the spec table, one GPU's prompt header, or this device's.

It lives in prompts/ because it renders prompt headers: gpus/ is data and detection only and imports
nothing from prompts/ (the package dependencies run one way; tests/test_import_graph.py checks).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tritonwright.gpus.detect import detect_gpu
from tritonwright.gpus.spec import GpuSpec, get_gpu, load_table
from tritonwright.prompts.cli import write_utf8
from tritonwright.prompts.engine import format_number
from tritonwright.prompts.render import render_gpu_header


def _cell(value: float | int | None) -> str:
    return "-" if value is None else format_number(value)


def _table(specs: list[GpuSpec], sources: bool) -> Table:
    table = Table(title="GPU spec table (dense tensor TFLOPS)")
    for column in ("name", "architecture", "CC", "SMs", "GB/s", "TF32", "BF16", "FP16", "smem/SM KB", "L2 MB"):
        table.add_column(column, justify="left" if column in ("name", "architecture") else "right")
    table.add_column("source" if sources else "device names")
    for s in specs:
        table.add_row(s.name, s.architecture, s.compute_capability, str(s.sm_count), _cell(s.memory_bandwidth_gb_s),
                      _cell(s.tf32_tflops), _cell(s.bf16_tflops), _cell(s.fp16_tflops),
                      _cell(s.shared_memory_per_sm_kb), _cell(s.l2_cache_mb),
                      s.source if sources else ", ".join(s.device_names))
    return table


def gpus_command(
    name: Annotated[str | None, typer.Argument(help="print this GPU's header exactly as prompts show it")] = None,
    detect: Annotated[bool, typer.Option("--detect", help="header for the running device (notes on stderr)")]
    = False,
    sources: Annotated[bool, typer.Option("--sources", help="show each GPU's data source in the table")] = False,
) -> None:
    """List the GPU spec table, or print one GPU's prompt header."""
    if detect:
        if name is not None:
            raise typer.BadParameter("give either a NAME or --detect, not both")
        detection = detect_gpu()
        for note in detection.notes:
            typer.echo(f"note: {note}", err=True)
        write_utf8(render_gpu_header(detection.spec))
    elif name is not None:
        write_utf8(render_gpu_header(get_gpu(name)))
    else:
        Console(width=200).print(_table(list(load_table().values()), sources))


def register(app: typer.Typer) -> None:
    app.command("gpus")(gpus_command)
