"""PNG charts for the reports, drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""

from __future__ import annotations

import io
import math
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from tritonwright.decision import Decision
from tritonwright.report.summary import FAST_P_THRESHOLDS
from tritonwright.report.task_view import TaskView

DPI = 100  # with the sizes below: ~900 px wide, sharp in a 960 px report column without a heavy data URI
WIDE = (9.0, 3.8)  # inches: the timeline chart and the distribution read left to right
HEADROOM = 1.12  # space above the highest point so dots at the top are not cut by the frame
MAX_NAMED_TICKS = 24
NICE_TICKS = (0.1, 0.25, 0.5, 1, 1.2, 2, 4, 8, 16, 32, 64, 128)  # speedups a reader names; 1.2 is a fast_p line
LABEL_ROOM = 1.8  # the stage-gain axis runs this far past the longest bar to leave room for its label  # beyond this many attempts, stage names under the ticks would overlap
COLOURS = {  # one colour per decision, the same as the timeline table's badges
    Decision.BASE: "#2563eb", Decision.KEEP: "#16a34a", Decision.REVERT: "#d97706", Decision.FAILED: "#dc2626",
    Decision.SKIP: "#6b7280",
}


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _empty(fig: Figure, text: str) -> bytes:
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="#6b7280", transform=ax.transAxes)
    return _png(fig)


def speedup_over_attempts(view: TaskView) -> bytes:
    """The best speedup vs eager after each attempt (step line), each timed attempt as a dot coloured by its
    decision, untimed or failed attempts as crosses on the floor, eager and torch.compile as dashed lines."""
    fig = Figure(figsize=WIDE)
    rows = view.rows
    if not any(r.speedup_eager is not None for r in rows):
        return _empty(fig, "no timings recorded for this task (a CPU run checks correctness only)")
    ax = fig.add_subplot()
    xs = [r.seq for r in rows]
    best = [math.nan if b is None else b for b in view.best_so_far]
    ax.step(xs, best, where="post", color="#111827", linewidth=2, label="best so far", zorder=3)
    for decision, colour in COLOURS.items():
        pts = [(r.seq, r.speedup_eager) for r in rows if r.decision == decision and r.speedup_eager is not None]
        if pts:
            seqs, speedups = zip(*pts, strict=True)
            ax.scatter(seqs, speedups, color=colour, s=36, label=decision.lower(), zorder=4)
    failed = [r.seq for r in rows if r.speedup_eager is None and r.decision != Decision.SKIP]
    if failed:
        ax.scatter(failed, [0.04] * len(failed), transform=ax.get_xaxis_transform(), marker="x",
                   color=COLOURS[Decision.FAILED], s=40, label="no timing (failed)", zorder=4)
    ax.axhline(1.0, color="#6b7280", linestyle="--", linewidth=1, label="eager")
    if view.compiled_vs_eager is not None:
        ax.axhline(view.compiled_vs_eager, color="#7c3aed", linestyle=":", linewidth=1.5, label="torch.compile")
    ax.set_xticks(xs)
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)  # half a step of margin: end markers are not cut by the frame
    if len(rows) <= MAX_NAMED_TICKS:
        ax.set_xticklabels([f"{r.seq} {r.stage}" for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_xlabel("attempt")
    ax.set_ylabel("speedup vs eager (x)")
    top = max(v for v in (*best, *(r.speedup_eager or 0 for r in rows), view.compiled_vs_eager or 0, 1.0)
              if not math.isnan(v))
    ax.set_ylim(0, top * HEADROOM)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def speedup_distribution(summary: dict[str, Any]) -> bytes:
    """How the correct tasks' speedups spread, vs eager and vs torch.compile, on a log axis with the
    fast_p thresholds marked."""
    fig = Figure(figsize=WIDE)
    series = {b: [t["speedup"][b] for t in summary["per_task"] if t["speedup"][b] is not None]
              for b in ("eager", "compiled")}
    values = series["eager"] + series["compiled"]
    if not values:
        return _empty(fig, "no correct task with a timing")
    ax = fig.add_subplot()
    lo, hi = min(*values, 0.5) / 1.05, max(*values, 2.0) * 1.05  # keep 0.5x..2x in view for scale
    n_bins = 24  # about 0.1 decade per bin over 0.5x..10x: fine enough to see clusters, coarse enough to fill
    edges = [lo * (hi / lo) ** (i / n_bins) for i in range(n_bins + 1)]
    labels = {"eager": "vs eager", "compiled": "vs torch.compile"}
    colours = {"eager": "#2563eb", "compiled": "#7c3aed"}
    for b, vals in series.items():
        if vals:
            ax.hist(vals, bins=edges, histtype="stepfilled", alpha=0.35, color=colours[b], label=labels[b])
            ax.hist(vals, bins=edges, histtype="step", color=colours[b], linewidth=1.5)
    for p in FAST_P_THRESHOLDS[1:]:
        ax.axvline(p, color="#6b7280", linestyle="--", linewidth=1)
        ax.text(p, 1.0, f" p={p:g}", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="#374151")
    ax.set_xscale("log")
    ax.set_xticks([t for t in NICE_TICKS if lo <= t <= hi])
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("speedup of the best candidate (x, log scale)")
    ax.set_ylabel("tasks")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _png(fig)


def stage_gains(summary: dict[str, Any]) -> bytes:
    """Per stage, the geometric-mean time gain of its kept steps over the tasks where it ran timed."""
    stages = [(s, d) for s, d in summary["stages"].items() if d["gain_geomean"] is not None]
    fig = Figure(figsize=(WIDE[0], max(2.0, 0.45 * len(stages) + 1.0)))
    if not stages:
        return _empty(fig, "no stage ran with timings")
    ax = fig.add_subplot()
    names = [s for s, _ in stages]
    gains = [100 * (d["gain_geomean"] - 1) for _, d in stages]
    ax.barh(names, gains, color=["#16a34a" if g > 0 else "#9ca3af" for g in gains], height=0.6)
    for i, (_, d) in enumerate(stages):
        tried = sum(v for k, v in d["decisions"].items() if k not in (Decision.SKIP, Decision.BASE))
        ax.text(max(gains[i], 0), i, f"  {gains[i]:+.1f}%: kept {d['decisions'].get(Decision.KEEP.value, 0)} of {tried}"
                f" attempts over {d['tasks_timed']} tasks", va="center", fontsize=8, color="#111827")
    ax.set_xlim(min(0.0, *gains) * LABEL_ROOM, max(1.0, *gains) * LABEL_ROOM)
    ax.axvline(0, color="#374151", linewidth=1)
    ax.invert_yaxis()
    ax.set_xlabel("geometric-mean time gain of the stage (%)")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
