"""What a task report shows, built from one task of an exported bundle: plain data, no formatting.

The bundle is the JSON from `tritonwright export RUN` (see tritonwright.report for its schema). Nothing
here reads a file or draws: the templates format these figures and charts.py draws them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tritonwright.decision import CURRENT_BEST, Decision

KEPT = CURRENT_BEST  # decisions after which the attempt's candidate is the current best
LONG_REASON_CHARS = 160  # longer reasons (tracebacks) fold away in HTML so the timeline stays readable


class ReportInputError(ValueError):
    """The bundle breaks its schema (an unknown task, a speedup that is not a positive finite number)."""


def find_task(bundle: dict[str, Any], task_key: str) -> dict[str, Any]:
    """The task with this key; ReportInputError naming the known keys if there is none."""
    for task in bundle.get("tasks", []):
        if task.get("key") == task_key:
            return task
    known = ", ".join(repr(t.get("key")) for t in bundle.get("tasks", [])[:20]) or "none"
    raise ReportInputError(f"no task {task_key!r} in run {bundle.get('run', {}).get('id')!r} (known: {known})")


def positive(value: Any, what: str) -> float | None:
    """A timing or speedup from the bundle: None stays None; anything but a positive finite number is an error.

    The schema says absent figures are null, never inf or -1; a report that averaged such a value would lie.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ReportInputError(f"{what}: expected a positive finite number or null, got {value!r}")
    return float(value)


def duration(value: Any, what: str) -> float | None:
    """A duration in seconds from the bundle: None stays None; zero is allowed (a skipped step takes none)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ReportInputError(f"{what}: expected a finite number of seconds >= 0 or null, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Row:
    """One attempt in the timeline."""

    seq: int
    stage: str
    origin: str
    status: str | None
    reason: str
    median_ms: float | None
    speedup_eager: float | None
    speedup_compiled: float | None
    decision: str
    decision_reason: str
    wall_s: float | None
    candidate_id: str
    parent_id: str | None
    llm: dict[str, Any] | None

    @property
    def long_reason(self) -> bool:
        return len(self.reason) > LONG_REASON_CHARS or "\n" in self.reason.strip()

    @property
    def reason_head(self) -> str:
        """The line that names the failure, cut to LONG_REASON_CHARS: the last line of a Python traceback
        (the exception), the first line of anything else."""
        lines = [line for line in self.reason.strip().splitlines() if line.strip()]
        if not lines:
            return ""
        head = lines[-1] if lines[0].startswith("Traceback") else lines[0]
        return head if len(head) <= LONG_REASON_CHARS else head[:LONG_REASON_CHARS] + "…"


@dataclass(frozen=True)
class MetricRow:
    kernel: str
    metric: str
    before: Any
    after: Any


@dataclass(frozen=True)
class MetricTable:
    """ncu metrics around one attempt: before = the profile that chose (or skipped) the step, after = its result."""

    seq: int
    stage: str
    decision: str
    decision_reason: str
    rows: tuple[MetricRow, ...]
    has_after: bool


@dataclass(frozen=True)
class DiffLine:
    kind: str  # file, hunk, add, del or ctx: the CSS class and the Markdown reader's cue
    text: str


@dataclass(frozen=True)
class KeptStep:
    seq: int
    stage: str
    origin: str
    candidate_id: str
    parent_id: str | None
    decision_reason: str
    speedup_eager: float | None
    lines: tuple[DiffLine, ...]


# The tuner's search phases (tune/search.py), as the report names them.
PHASES = {"coarse": "coarse grid", "stages": "stage sweep", "refine": "refinement", "dry-run": "dry run"}


@dataclass(frozen=True)
class ConfigRow:
    """One launch config a tuner step tried (the bundle's attempts[].configs[])."""

    kernel: str
    label: str
    phase: str  # PHASES' name, "(original)" added for a config the code ran before tuning
    screen_ms: float | None  # the unchecked screening's median; None when not screened (dry run) or it failed
    verified: bool  # evaluated in full (correctness on fresh inputs, full timing)
    verified_ms: float | None
    status: str  # the full check's status when verified, else the screening's
    error: str  # one line; "" when it passed
    chosen: bool  # the search's pick for its kernel

    @property
    def failed(self) -> bool:
        return self.status != "OK"


@dataclass(frozen=True)
class TunerTable:
    """Every config one tuner step tried: the passing ones fastest screened first, then the failures."""

    seq: int
    stage: str
    decision: str
    decision_reason: str
    rows: tuple[ConfigRow, ...]
    kernels: tuple[str, ...]  # in the order first tried; the tables name the kernel when there are several
    notes: tuple[str, ...] = ()  # the tuner's: spaces searched, kernels by GPU time, each screening's seconds

    @property
    def verified(self) -> int:
        return sum(r.verified for r in self.rows)

    @property
    def failed(self) -> int:
        return sum(r.failed for r in self.rows)

    @property
    def chosen(self) -> tuple[str, ...]:
        return tuple(r.label if len(self.kernels) == 1 else f"{r.kernel}: {r.label}" for r in self.rows if r.chosen)


def _config_row(c: dict[str, Any], where: str) -> ConfigRow:
    phase = str(c.get("phase") or "?")
    return ConfigRow(
        kernel=str(c.get("kernel") or "?"),
        label=str(c.get("label") or "?"),
        phase=PHASES.get(phase, phase) + (" (original)" if c.get("original") else ""),
        screen_ms=positive(c.get("screen_ms"), f"{where} screen_ms"),
        verified=bool(c.get("verified")),
        verified_ms=positive(c.get("verified_ms"), f"{where} verified_ms"),
        status=str(c.get("status") or "?"),
        error=str(c.get("error") or ""),
        chosen=bool(c.get("chosen")),
    )


def tuner_table(att: dict[str, Any], row: Row, key: str) -> TunerTable | None:
    """The configs of a tuner step, sorted for reading: per kernel, those that passed by screening time (the
    unscreened after them, in the order tried), then the failures in the order tried. None: no config rows."""
    configs = att.get("configs") or []
    if not configs:
        return None
    rows = [_config_row(c, f"task {key!r} attempt {row.seq} config {i}") for i, c in enumerate(configs)]
    kernels = tuple(dict.fromkeys(r.kernel for r in rows))

    def place(i: int) -> tuple[int, bool, bool, float, int]:
        r = rows[i]
        timed = r.screen_ms is not None and not r.failed  # a failure's screening time orders nothing
        return kernels.index(r.kernel), r.failed, not timed, r.screen_ms if timed and r.screen_ms else 0.0, i

    order = sorted(range(len(rows)), key=place)
    notes = att.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise ValueError(f"task {key!r} attempt {row.seq}: notes must be a list of strings")
    return TunerTable(row.seq, row.stage, row.decision, row.decision_reason, tuple(rows[i] for i in order), kernels,
                      tuple(notes))


@dataclass(frozen=True)
class FloorView:
    """The task's speed-of-light floor and how far the best is from it, or why there is none."""

    ms: float | None  # None: no floor (CPU run, nothing measurable), `note` says why
    limit: str  # memory | compute | ""
    vs_floor: float | None  # best median / floor (1.00x: at the floor)
    note: str  # why there is no floor, or "" when there is one
    stopped: bool  # stages were skipped because the best was at the floor


def floor_view(task: dict[str, Any]) -> FloorView | None:
    """From the bundle's `floor` record (None when the run never computed one) and the best's median."""
    rec = task.get("floor")
    if not rec:
        return None
    fl = rec.get("floor") or {}
    ms = positive(fl.get("ms"), f"task {task.get('key')!r} floor ms") if rec.get("available") else None
    best = task.get("best") or {}
    median = positive(best.get("median_ms"), f"task {task.get('key')!r} best median_ms")
    vs = positive(best.get("vs_floor"), f"task {task.get('key')!r} best vs_floor")
    if vs is None and ms is not None and median is not None:
        vs = median / ms
    stopped = any(a.get("origin") == "floor" and a.get("decision") == Decision.SKIP for a in task.get("attempts") or [])
    return FloorView(ms, str(fl.get("limit") or "") if ms is not None else "", vs,
                     "" if ms is not None else str(rec.get("reason") or "not measured"), stopped)


@dataclass(frozen=True)
class TaskView:
    run: dict[str, Any]
    task: dict[str, Any]
    eager_ms: float | None
    compiled_ms: float | None
    compile_mode: str
    rows: tuple[Row, ...]
    best_so_far: tuple[float | None, ...]  # speedup vs eager of the current best after each row
    metric_tables: tuple[MetricTable, ...]
    kept_steps: tuple[KeptStep, ...]
    best: dict[str, Any] | None
    best_speedup_eager: float | None
    best_speedup_compiled: float | None
    wall_s: float | None
    gpu_s: float | None
    floor: FloorView | None = None
    tuner_tables: tuple[TunerTable, ...] = ()  # per tuner step that recorded them, every launch config tried
    from_compile: bool = False  # the best is torch.compile's own code (from_torch_compile), maybe tuned

    @property
    def time_line(self) -> str:
        """Where the wall time went: each stage's steps summed, then what no step counted (fmt.time_by_stage)."""
        from tritonwright.report.fmt import time_by_stage

        return time_by_stage([(r.stage, r.wall_s) for r in self.rows], self.wall_s)

    @property
    def compiled_vs_eager(self) -> float | None:
        """How much faster torch.compile is than eager: the bar a Triton kernel must clear to matter."""
        if self.eager_ms is None or self.compiled_ms is None:
            return None
        return self.eager_ms / self.compiled_ms


def _speedup(given: Any, baseline_ms: float | None, median_ms: float | None, what: str) -> float | None:
    """The bundle's speedup, or baseline/median when the bundle left it out but has both times."""
    value = positive(given, what)
    if value is None and baseline_ms is not None and median_ms is not None:
        return baseline_ms / median_ms
    return value


def _row(att: dict[str, Any], key: str, eager_ms: float | None, compiled_ms: float | None) -> Row:
    where = f"task {key!r} attempt {att.get('seq')}"
    median = positive(att.get("median_ms"), f"{where} median_ms")
    return Row(
        seq=int(att["seq"]),
        stage=str(att.get("stage") or "?"),
        origin=str(att.get("origin") or "?"),
        status=att.get("status"),
        reason=str(att.get("reason") or ""),
        median_ms=median,
        speedup_eager=_speedup(att.get("speedup_eager"), eager_ms, median, f"{where} speedup_eager"),
        speedup_compiled=_speedup(att.get("speedup_compiled"), compiled_ms, median, f"{where} speedup_compiled"),
        decision=str(att.get("decision") or "?"),
        decision_reason=str(att.get("decision_reason") or ""),
        wall_s=duration(att.get("wall_s"), f"{where} wall_s"),
        candidate_id=str(att.get("candidate_id") or ""),
        parent_id=att.get("parent_id"),
        llm=att.get("llm"),
    )


def best_so_far(rows: tuple[Row, ...]) -> tuple[float | None, ...]:
    """After each attempt, the speedup vs eager of the candidate the pipeline holds as best.

    Only a correct (OK) attempt that became the base or was kept moves the line; a faster attempt that was
    reverted (within noise, or wrong) does not, because the user never gets it.
    """
    current: float | None = None
    out: list[float | None] = []
    for row in rows:
        if row.decision in KEPT and row.status == "OK" and row.speedup_eager is not None:
            current = row.speedup_eager
        out.append(current)
    return tuple(out)


def _flatten(metrics: dict[str, Any] | None) -> dict[tuple[str, str], Any]:
    """{kernel: {metric: v}} or {kernel: [{metric: v}, ...]} -> {(kernel label, metric): v}, order kept."""
    out: dict[tuple[str, str], Any] = {}
    for kernel, body in (metrics or {}).items():
        launches = body if isinstance(body, list) else [body]
        for i, launch in enumerate(launches, start=1):
            label = kernel if len(launches) == 1 else f"{kernel} (launch {i})"
            for metric, value in (launch or {}).items():
                out[(label, metric)] = value
    return out


def _metric_table(att: dict[str, Any], row: Row) -> MetricTable | None:
    before = _flatten(att.get("metrics_before"))
    after = _flatten(att.get("metrics_after"))
    if not before and not after:
        return None
    keys = list(dict.fromkeys([*before, *after]))
    rows = tuple(MetricRow(k, m, before.get((k, m)), after.get((k, m))) for k, m in keys)
    return MetricTable(row.seq, row.stage, row.decision, row.decision_reason, rows, bool(after))


def diff_lines(diff: str) -> tuple[DiffLine, ...]:
    """A unified diff split into lines, each tagged file/hunk/add/del/ctx for colouring."""
    out: list[DiffLine] = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append(DiffLine(kind, line))
    return tuple(out)


def from_torch_compile(task: dict[str, Any]) -> bool:
    """The task's best comes from torch.compile's own code: the run started from it (the Inductor seed), or it
    won the race against the best (pipeline/race.py); tuned or not. A speed-up of such a best against
    torch.compile measures the tuning, not a kernel of the user's or the LLM's: reports mark it."""
    for att in task.get("attempts") or []:
        stage, origin, decision = att.get("stage"), att.get("origin"), att.get("decision")
        if stage == "seed" and origin == "inductor" and decision == Decision.BASE:
            return True
        # the race's A/B row (origin: its contender, "inductor" or "tune"), not its tuner row (origin "tuner")
        if stage == "race" and origin != "tuner" and decision == Decision.KEEP:
            return True
    return False


def build_task_view(bundle: dict[str, Any], task_key: str) -> TaskView:
    """Everything a task report shows, in attempt order (by seq)."""
    task = find_task(bundle, task_key)
    base = task.get("baselines") or {}
    eager = positive(base.get("eager_ms"), f"task {task_key!r} eager_ms")
    compiled = positive(base.get("compiled_ms"), f"task {task_key!r} compiled_ms")
    attempts = sorted(task.get("attempts") or [], key=lambda a: int(a["seq"]))
    rows = tuple(_row(a, task_key, eager, compiled) for a in attempts)
    tables = tuple(t for a, r in zip(attempts, rows, strict=True) if (t := _metric_table(a, r)) is not None)
    tuner = tuple(tt for a, r in zip(attempts, rows, strict=True) if (tt := tuner_table(a, r, task_key)) is not None)
    kept = tuple(
        KeptStep(r.seq, r.stage, r.origin, r.candidate_id, r.parent_id, r.decision_reason, r.speedup_eager,
                 diff_lines(a.get("diff") or ""))
        for a, r in zip(attempts, rows, strict=True)
        if r.decision == Decision.KEEP
    )
    best = task.get("best")
    best_median = positive(best.get("median_ms"), f"task {task_key!r} best median_ms") if best else None
    return TaskView(
        run=bundle.get("run") or {},
        task=task,
        eager_ms=eager,
        compiled_ms=compiled,
        compile_mode=str(base.get("compile_mode") or ""),
        rows=rows,
        best_so_far=best_so_far(rows),
        metric_tables=tables,
        kept_steps=kept,
        best=best,
        best_speedup_eager=_speedup(best.get("speedup_eager"), eager, best_median,
                                    f"task {task_key!r} best speedup_eager") if best else None,
        best_speedup_compiled=_speedup(best.get("speedup_compiled"), compiled, best_median,
                                       f"task {task_key!r} best speedup_compiled") if best else None,
        wall_s=duration(task.get("wall_s"), f"task {task_key!r} wall_s"),
        gpu_s=duration(task.get("gpu_s"), f"task {task_key!r} gpu_s"),
        floor=floor_view(task),
        tuner_tables=tuner,
        from_compile=best is not None and from_torch_compile(task),
    )
