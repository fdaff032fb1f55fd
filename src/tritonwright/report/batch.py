"""The batch report: the figures of batch_summary as HTML and Markdown, two charts, and each task's report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritonwright.report import charts
from tritonwright.report.render import data_uri, render
from tritonwright.report.summary import BASELINES, FAST_P_THRESHOLDS, batch_summary
from tritonwright.report.task import task_files, usage_or_zero, write_task_report
from tritonwright.report.task_view import floor_view

TASKS_DIR = "tasks"  # per-task reports go one folder down, so the batch's own files stay few and findable
FILES = {"html": "batch.html", "md": "batch.md",
         "distribution": "batch-speedups.png", "stages": "batch-stage-gains.png"}


def _task_rows(bundle: dict[str, Any], summary: dict[str, Any], linked: bool) -> list[dict[str, Any]]:
    rows = []
    for task, figures in zip(bundle.get("tasks") or [], summary["per_task"], strict=True):
        best = task.get("best") or {}
        base = task.get("baselines") or {}
        rows.append({
            **figures,
            "kind": task.get("kind"),
            "eager_ms": base.get("eager_ms"),
            "compiled_ms": base.get("compiled_ms"),
            "best_ms": best.get("median_ms") if figures["correct"] else None,
            "floor": floor_view(task),
            "attempts": len(task.get("attempts") or []),
            "usage": usage_or_zero(task.get("usage")),
            "wall_s": task.get("wall_s"),
            "error": task.get("error"),
            "link": f"{TASKS_DIR}/{task_files(figures['key'])['html']}" if linked else None,
            "md_link": f"{TASKS_DIR}/{task_files(figures['key'])['md']}" if linked else None,
        })
    return rows


def write_batch_report(bundle: dict[str, Any], out_dir: str | Path, with_tasks: bool = True) -> list[Path]:
    """Write the batch report of an exported run bundle into `out_dir`; return the files written.

    Files: `batch.html` (self-contained: CSS inline, charts as data URIs, no network), `batch.md`, the
    charts `batch-speedups.png` (speedup distribution vs eager and torch.compile) and
    `batch-stage-gains.png` (geometric-mean gain per stage); with `with_tasks`, every task's report
    (write_task_report) under `tasks/`, linked from the task table. The figures are batch_summary's:
    correct share, fast_p for p in 0, 1, 1.2, 2 against eager and torch.compile, geometric mean and
    median speedups, all by level too, tokens and cost, GPU and wall time.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = batch_summary(bundle)
    pngs = {"distribution": charts.speedup_distribution(summary), "stages": charts.stage_gains(summary)}
    for name, png in pngs.items():
        (out / FILES[name]).write_bytes(png)
    variables = {
        "s": summary,
        "run": bundle.get("run") or {},
        "tasks": _task_rows(bundle, summary, with_tasks),
        "thresholds": [f"{p:g}" for p in FAST_P_THRESHOLDS],
        "baselines": BASELINES,
        "charts": {name: data_uri(png) for name, png in pngs.items()},
        "files": FILES,
    }
    for kind in ("html", "md"):
        (out / FILES[kind]).write_text(render(f"batch.{kind}.j2", **variables), encoding="utf-8")
    written = [out / FILES[name] for name in ("html", "md", "distribution", "stages")]
    if with_tasks:
        for task in bundle.get("tasks") or []:
            written += write_task_report(bundle, str(task.get("key")), out / TASKS_DIR)
    return written
