"""`optimize`, `batch`, `runs`, `show`, `export`: the product's commands. Parsing and printing only."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tritonwright.errors import UserInputError
from tritonwright.eval.types import EvalConfig
from tritonwright.pipeline.optimize import DEFAULT_MAX_REPAIRS, DEFAULT_THRESHOLD, OptimizeConfig
from tritonwright.pipeline.runner import (
    RunSettings,
    Session,
    discover,
    select,
    start_candidate,
    task_entry,
)
from tritonwright.prompts.stages import KINDS, STAGES, STYLES
from tritonwright.store import RunStore
from tritonwright.task import parse_overrides

console = Console(width=None if Console().is_terminal else 140)  # logs and CI: wide enough for tables


class LiveEvents:
    """The live view: current task and step, the attempt's status, the best speedup so far."""

    def __init__(self, quiet: bool, total: int = 1) -> None:
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.task = ""
        self.text = "starting"
        self.bests: dict[str, float | None] = {}
        self.t0 = time.monotonic()
        self.live: Live | None = None

    def _table(self) -> Table:
        t = Table.grid(padding=(0, 2))
        best = self.bests.get(self.task)
        t.add_row(f"[bold]{self.task}[/bold]", self.text,
                  f"best vs eager: {'-' if best is None else f'{best:.2f}x'}",
                  f"tasks {self.done}/{self.total}", f"{time.monotonic() - self.t0:.0f} s")
        return t

    def step(self, task_key: str, text: str) -> None:
        self.task, self.text = task_key, text
        if self.quiet or self.live is None:
            console.print(f"[{time.monotonic() - self.t0:7.1f} s] {task_key}: {text}", highlight=False)
        else:
            self.live.update(self._table())

    def best(self, task_key: str, speedup: float | None) -> None:
        self.bests[task_key] = speedup

    def __enter__(self) -> LiveEvents:
        if not self.quiet and console.is_terminal:
            self.live = Live(self._table(), console=console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)


def _stages(value: str | None) -> tuple[str, ...]:
    if not value:
        return STAGES
    if value.strip() == "none":  # seed (and repairs) plus the final check only: a quick verdict
        return ()
    names = tuple(s.strip() for s in value.split(",") if s.strip())
    bad = [s for s in names if s not in STAGES]
    if bad:
        raise UserInputError(f"--stages: unknown stage(s) {', '.join(bad)}; valid: {', '.join(STAGES)}")
    return names


def _choice(flag: str, value: str | None, valid: tuple[str, ...]) -> None:
    if value is not None and value not in valid:
        raise UserInputError(f"{flag} {value}: expected one of {', '.join(valid)}")


def _settings(device: str, llm: str | None, gpu: str | None, kind: str | None, stages: str | None, style: str,
              max_repairs: int, threshold: float, set_: list[str] | None, profile: bool, no_cache: bool,
              atol: float | None = None, rtol: float | None = None, candidates: int = 1) -> RunSettings:
    _choice("--kind", kind, KINDS)
    _choice("--style", style, STYLES)
    return RunSettings(device=device, llm=llm, gpu=gpu, kind=kind,
                       optimize=OptimizeConfig(stages=_stages(stages), style=style, max_repairs=max_repairs,
                                               threshold=threshold, candidates=candidates),
                       eval=EvalConfig(device=device, atol=atol, rtol=rtol), overrides=parse_overrides(set_), profile=profile,
                       no_cache=no_cache)


def _open_session(store: RunStore, run_id: str, settings: RunSettings, events: LiveEvents) -> Session:
    """A session for the run; a setup mistake (missing API key, unknown GPU) marks the run failed."""
    try:
        return Session(store, run_id, settings, events)
    except UserInputError:
        store.finish_run(run_id, "failed")
        raise


def _summary(store: RunStore, run_id: str) -> None:
    table = Table(title=f"run {run_id}")
    for col in ("task", "status", "best ms", "vs eager", "vs compile", "wall s", "output"):
        table.add_column(col)
    for t in store.tasks(run_id):
        best = t["best"] or {}

        def fx(v: float | None) -> str:
            return "-" if v is None else f"{v:.2f}x"

        table.add_row(t["key"], t["status"], "-" if best.get("median_ms") is None else f"{best['median_ms']:.4f}",
                      fx(best.get("speedup_eager")), fx(best.get("speedup_compiled")),
                      "-" if t["wall_s"] is None else f"{t['wall_s']:.1f}",
                      str(store.task_dir(run_id, t["key"])) if t["status"] == "done" else (t["error"] or "").split("\n")[0][:80])
    console.print(table)


def optimize_command(
    task: Annotated[Path, typer.Argument(help="Task file (KernelBench format)")],
    from_: Annotated[Path | None, typer.Option("--from", help="Start from this ModelNew candidate")] = None,
    llm: Annotated[str | None, typer.Option(help="LLM spec, e.g. openai:gpt-5, anthropic:claude-sonnet-4-5, "
                                                 "replay:PATH, manual")] = None,
    gpu: Annotated[str | None, typer.Option(help="GPU spec name for prompts (default: detect)")] = None,
    stages: Annotated[str | None, typer.Option(help="Comma-separated stages, or none (default: all four)")] = None,
    style: Annotated[str, typer.Option(help="compact | verbose stage prompts")] = "compact",
    kind: Annotated[str | None, typer.Option(help="single | fusion | network (default: detect)")] = None,
    max_repairs: Annotated[int, typer.Option(min=0)] = DEFAULT_MAX_REPAIRS,
    threshold: Annotated[float, typer.Option(min=0.0, help="Minimum significant gain to keep a change")] =
    DEFAULT_THRESHOLD,
    out: Annotated[Path, typer.Option(help="Run store folder")] = Path("runs"),
    device: Annotated[str, typer.Option(help="auto | cuda | cpu")] = "auto",
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a task constant: NAME=VALUE")] = None,
    profile: Annotated[bool, typer.Option(help="Guide stages with ncu metrics (GPU)")] = True,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ask the LLM again even when cached")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue this run id")] = None,
    quiet: Annotated[bool, typer.Option(help="Log lines only, no live view")] = False,
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance (default per dtype)")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance (default per dtype)")] = None,
    candidates: Annotated[int, typer.Option(min=1, max=16, help="LLM answers per seed/stage prompt; the best "
                                                                "correct one competes")] = 1,
) -> None:
    """Optimize one task: seed, repair, four stages, final check; writes best.py and a report."""
    store = RunStore(out)
    if resume:
        settings = RunSettings.from_dict(store.run(resume)["config"])
        run_id = resume
    else:
        settings = _settings(device, llm, gpu, kind, stages, style, max_repairs, threshold, set_, profile,
                             no_cache, atol, rtol, candidates)
        run_id = ""
    entry = task_entry(task)
    if not entry.path.is_file():
        raise UserInputError(f"{task}: task file not found")
    start = start_candidate(entry, from_) if not resume else None
    if start is None and not settings.llm and not resume:
        raise UserInputError("nothing to start from: pass --from CANDIDATE.py (your ModelNew) or --llm SPEC "
                             "(e.g. openai:gpt-5) so one can be written")
    if not run_id:
        run_id = store.create_run("optimize", settings.to_dict())
    with LiveEvents(quiet) as events:
        session = _open_session(store, run_id, settings, events)
        if resume and start is None:
            row = store.task(run_id, entry.key)
            start = start_candidate(entry, None) if row is None else None
        outcome = session.run_task(entry, start)
    store.finish_run(run_id, "done" if outcome.status == "done" else "failed")
    console.print(f"[bold]{entry.key}[/bold]: {outcome.status}" + (f" ({outcome.error})" if outcome.error else ""),
                  highlight=False)
    if session.gpu_note:
        console.print(f"GPU: {session.gpu.name} ({session.gpu_note})", highlight=False)
    _summary(store, run_id)
    for f in outcome.files:
        console.print(f"wrote {f}", highlight=False)
    raise typer.Exit(0 if outcome.status == "done" else 1)


def batch_command(
    folder: Annotated[Path, typer.Argument(help="Folder of tasks (KernelBench layout or name/task.py folders)")],
    level: Annotated[int | None, typer.Option(min=1, max=3, help="Only tasks under levelN/")] = None,
    range_: Annotated[str | None, typer.Option("--range", help="A:B over numeric prefixes, inclusive")] = None,
    first_n: Annotated[int | None, typer.Option(min=1)] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Pick K tasks at random (with --seed)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    llm: Annotated[str | None, typer.Option(help="LLM spec")] = None,
    gpu: Annotated[str | None, typer.Option()] = None,
    stages: Annotated[str | None, typer.Option()] = None,
    style: Annotated[str, typer.Option()] = "compact",
    max_repairs: Annotated[int, typer.Option(min=0)] = DEFAULT_MAX_REPAIRS,
    threshold: Annotated[float, typer.Option(min=0.0)] = DEFAULT_THRESHOLD,
    out: Annotated[Path, typer.Option(help="Run store folder")] = Path("runs"),
    device: Annotated[str, typer.Option()] = "auto",
    set_: Annotated[list[str] | None, typer.Option("--set")] = None,
    profile: Annotated[bool, typer.Option()] = True,
    no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue this run id: finished tasks are not redone")] = None,
    quiet: Annotated[bool, typer.Option()] = False,
    atol: Annotated[float | None, typer.Option(help="Absolute tolerance (default per dtype)")] = None,
    rtol: Annotated[float | None, typer.Option(help="Relative tolerance (default per dtype)")] = None,
    candidates: Annotated[int, typer.Option(min=1, max=16, help="LLM answers per seed/stage prompt; the best "
                                                                "correct one competes")] = 1,
) -> None:
    """Optimize every task of a folder; resumable with --resume RUN after any kill."""
    store = RunStore(out)
    if resume:
        run = store.run(resume)
        settings = RunSettings.from_dict(run["config"])
        run_id = resume
        entries_cfg = run["config"].get("batch", {})
        folder = Path(entries_cfg.get("folder", folder))
        level, range_, first_n = entries_cfg.get("level"), entries_cfg.get("range"), entries_cfg.get("first_n")
        sample, seed = entries_cfg.get("sample"), entries_cfg.get("seed", 0)
    else:
        settings = _settings(device, llm, gpu, None, stages, style, max_repairs, threshold, set_, profile, no_cache,
                             atol, rtol, candidates)
        run_id = ""
    entries = select(discover(folder, level), range_, first_n, sample, seed)
    if not entries:
        raise UserInputError(f"{folder}: no tasks found (files with class Model and get_inputs, or */task.py)")
    if not run_id:
        cfg = settings.to_dict() | {"batch": {"folder": str(folder), "level": level, "range": range_,
                                              "first_n": first_n, "sample": sample, "seed": seed}}
        run_id = store.create_run("batch", cfg)
    console.print(f"run {run_id}: {len(entries)} tasks", highlight=False)
    with LiveEvents(quiet, total=len(entries)) as events:
        session = _open_session(store, run_id, settings, events)
        for entry in entries:
            row = store.task(run_id, entry.key)
            if row is not None and row["status"] in {"done", "failed"}:
                events.done += 1
                continue
            start = start_candidate(entry, None)
            if start is None and session.llm is None:
                store.start_task(run_id, entry.key, str(entry.path), "", entry.level, None)
                store.finish_task(run_id, entry.key, "failed", error="no candidate.py beside the task and no --llm")
            else:
                session.run_task(entry, start)
            events.done += 1
    store.finish_run(run_id)
    _summary(store, run_id)
    from tritonwright.report import write_batch_report

    for f in write_batch_report(store.bundle(run_id), store.root / run_id):
        console.print(f"wrote {f}", highlight=False)


def runs_command(out: Annotated[Path, typer.Option(help="Run store folder")] = Path("runs")) -> None:
    """List runs."""
    store = RunStore(out)
    table = Table()
    for col in ("run", "kind", "status", "created", "tasks"):
        table.add_column(col)
    for r in store.runs():
        tasks = store.tasks(r["id"])
        done = sum(t["status"] == "done" for t in tasks)
        table.add_row(r["id"], r["kind"], r["status"], r["created"], f"{done}/{len(tasks)} done")
    console.print(table)


def show_command(run: Annotated[str, typer.Argument()], task: Annotated[str | None, typer.Argument()] = None,
                 out: Annotated[Path, typer.Option()] = Path("runs")) -> None:
    """Print the attempt timeline of a run's task(s)."""
    store = RunStore(out)
    store.run(run)
    keys = [task] if task else [t["key"] for t in store.tasks(run)]
    for key in keys:
        if store.task(run, key) is None:
            raise UserInputError(f"run {run} has no task {key!r}")
        table = Table(title=key)
        for col in ("#", "stage", "origin", "status", "ms", "vs eager", "decision", "reason"):
            table.add_column(col)
        for a in store.attempts(run, key):
            table.add_row(str(a.seq), a.stage, a.origin, a.status or "-",
                          "-" if a.median_ms is None else f"{a.median_ms:.4f}",
                          "-" if a.speedup_eager is None else f"{a.speedup_eager:.2f}x", a.decision,
                          (a.decision_reason or a.reason or "").splitlines()[0][:90] if (a.decision_reason or a.reason)
                          else "")
        console.print(table)


def export_command(run: Annotated[str, typer.Argument()], out: Annotated[Path, typer.Option()] = Path("runs"),
                   to: Annotated[Path | None, typer.Option(help="File to write (default: RUN.json)")] = None) -> None:
    """Write a run as one JSON bundle."""
    store = RunStore(out)
    target = to or Path(f"{run}.json")
    target.write_text(json.dumps(store.bundle(run), indent=1, allow_nan=False))
    console.print(f"wrote {target}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_command)
    app.command("batch")(batch_command)
    app.command("runs")(runs_command)
    app.command("show")(show_command)
    app.command("export")(export_command)
