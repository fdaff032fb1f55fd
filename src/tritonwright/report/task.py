"""The per-task report: one self-contained HTML file, a Markdown twin and the chart as a PNG beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tritonwright.report import charts, fmt
from tritonwright.report.render import data_uri, render
from tritonwright.report.task_view import build_task_view


def usage_or_zero(usage: dict[str, Any] | None) -> dict[str, Any]:
    """A task's LLM usage with every field present; a task that made no call spent $0, not an unknown sum."""
    out = {"input_tokens": 0, "output_tokens": 0, "cost_usd": None, "calls": 0, "refused": 0, **(usage or {})}
    if not out["calls"]:
        out["cost_usd"] = 0.0
    return out


def task_files(task_key: str) -> dict[str, str]:
    """File names of a task's report (html, md, chart), derived from its key so a batch can link to them."""
    stem = fmt.slug(task_key)
    return {"html": f"{stem}.html", "md": f"{stem}.md", "chart": f"{stem}-speedup.png"}


def write_task_report(bundle: dict[str, Any], task_key: str, out_dir: str | Path) -> list[Path]:
    """Write the report of one task of an exported run bundle into `out_dir`; return the files written.

    Files: `<slug>.html` (self-contained: CSS inline, chart as a data URI, no network), `<slug>.md`
    (links the PNG beside it) and `<slug>-speedup.png`, `<slug>` being the task key made file-safe
    (fmt.slug). They show the baselines, the best speedup over attempts, the timeline of attempts
    (stage, origin, status, time, speedup vs eager and vs torch.compile, decision and reason), per tuner step
    every launch config it tried (folded away in HTML), the ncu metrics before/after each step, the diff of
    each kept step and the final code. All text is escaped.
    Raises ReportInputError when the task is not in the bundle or a figure breaks the bundle's schema.
    """
    view = build_task_view(bundle, task_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = task_files(task_key)
    png = charts.speedup_over_attempts(view)
    variables = {
        "v": view,
        "t": view.task,
        "usage": usage_or_zero(view.task.get("usage")),
        "chart_uri": data_uri(png),
        "chart_file": names["chart"],
    }
    paths = {kind: out / name for kind, name in names.items()}
    paths["chart"].write_bytes(png)
    paths["html"].write_text(render("task.html.j2", **variables), encoding="utf-8")
    paths["md"].write_text(render("task.md.j2", **variables), encoding="utf-8")
    return [paths["html"], paths["md"], paths["chart"]]
