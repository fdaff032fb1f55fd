"""`optimize`, `batch`, `runs`, `show`, `export`: the product's commands. Parsing and printing only."""

from __future__ import annotations

import json
import shlex
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from tritonwright import options as opts
from tritonwright.candidate import Candidate
from tritonwright.environment import run_environment
from tritonwright.errors import UserInputError, one_line
from tritonwright.eval.runner import resolve_device
from tritonwright.eval.types import EvalConfig
from tritonwright.executors.factory import open_pool
from tritonwright.executors.pool import PoolUnavailable, SlotPool
from tritonwright.pipeline.optimize import (
    DEFAULT_FLOOR_STOP,
    DEFAULT_MAX_REPAIRS,
    DEFAULT_THRESHOLD,
    OptimizeConfig,
    TaskOutcome,
)
from tritonwright.pipeline.runner import (
    RunSettings,
    Session,
    TaskEntry,
    attach_candidates,
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
    """The live view: one line per task in progress (its step, its best speedup), tasks done, elapsed time,
    and what the GPU workers do. Task threads call it concurrently, so it keeps its state under a lock."""

    def __init__(self, quiet: bool, total: int = 1) -> None:
        self.quiet = quiet
        self.total = total
        self.done = 0
        self.active: dict[str, str] = {}
        self.bests: dict[str, float | None] = {}
        self.pool: Any = None  # the SlotPool, when there is one: its slots appear under the tasks
        self.t0 = time.monotonic()
        self.live: Live | None = None
        self._lock = threading.Lock()
        self.store: RunStore | None = None  # set once the run exists: finished steps' outcomes are read from it
        self.run_id = ""
        self._shown: dict[str, int] = {}  # per task: attempts already printed above the live view

    def _table(self) -> Table:
        t = Table.grid(padding=(0, 2))
        with self._lock:
            rows = list(self.active.items())
            bests = dict(self.bests)
            done = self.done
        for key, text in rows or [("", "starting")]:
            best = bests.get(key)
            t.add_row(f"[bold]{key}[/bold]", text, f"best vs eager: {'-' if best is None else f'{best:.2f}x'}")
        workers = ""
        if self.pool is not None:
            busy = self.pool.busy()
            workers = f"workers busy {len(busy)}/{self.pool.size}"
        t.add_row(f"tasks {done}/{self.total}", workers, f"{time.monotonic() - self.t0:.0f} s")
        return t

    def _refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._table())

    def outcomes(self, task_key: str) -> None:
        """Print the task's steps that finished since the last call (stage, decision, full reason), so they
        stay on screen above the live view (which shows only what runs now)."""
        if self.store is None or not self.run_id:
            return
        try:
            attempts = self.store.attempts(self.run_id, task_key)
        except Exception:  # noqa: BLE001 - the live view never stops a run
            return
        with self._lock:
            new = attempts[self._shown.get(task_key, 0):]
            self._shown[task_key] = len(attempts)
        for a in new:
            ms = "" if a.median_ms is None else f", {a.median_ms:.4f} ms"
            why = one_line(a.decision_reason or a.reason or "")
            console.print(f"[{time.monotonic() - self.t0:7.1f} s] {task_key}: {a.stage} ({a.origin}): "
                          f"{a.decision}{ms}" + (f": {why}" if why else ""), markup=False, highlight=False)

    def step(self, task_key: str, text: str) -> None:
        with self._lock:
            self.active[task_key] = text
        self.outcomes(task_key)
        if self.quiet or self.live is None:
            console.print(f"[{time.monotonic() - self.t0:7.1f} s] {task_key}: {text}", highlight=False)
        else:
            self._refresh()

    def best(self, task_key: str, speedup: float | None) -> None:
        with self._lock:
            self.bests[task_key] = speedup

    def finished(self, task_key: str) -> None:
        self.outcomes(task_key)
        with self._lock:
            self.active.pop(task_key, None)
            self.done += 1
        self._refresh()

    def pool_event(self, ev: Any) -> None:
        """Worker starts, crashes, retries and drained GPUs: always printed, they matter after the run."""
        console.print(f"[{time.monotonic() - self.t0:7.1f} s] worker {ev.slot}: {ev.kind}: {ev.detail}",
                      highlight=False)

    def __enter__(self) -> LiveEvents:
        if not self.quiet and console.is_terminal:
            self.live = Live(self._table(), console=console, refresh_per_second=4, transient=True,
                             get_renderable=self._table)
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
              max_repairs: int, threshold: float, set_: list[str] | None, profile: bool | None, no_cache: bool,
              atol: float | None = None, rtol: float | None = None, candidates: int = 1,
              floor_stop: float = DEFAULT_FLOOR_STOP, precision: str = opts.PRECISION_DEFAULT,
              fp64_k: float | None = None, race: bool = True, strict: bool = False) -> RunSettings:
    _choice("--kind", kind, KINDS)
    _choice("--style", style, STYLES)
    return RunSettings(device=device, llm=llm, gpu=gpu, kind=kind,
                       optimize=OptimizeConfig(stages=_stages(stages), style=style, max_repairs=max_repairs,
                                               threshold=threshold, candidates=candidates, floor_stop=floor_stop,
                                               race=race),
                       eval=EvalConfig(device=device, atol=atol, rtol=rtol, strict=strict,
                                       precision=opts.check_precision(precision),
                                       fp64_k=fp64_k),
                       overrides=parse_overrides(set_), profile=profile,
                       no_cache=no_cache)


def _open_session(store: RunStore, run_id: str, settings: RunSettings, events: LiveEvents,
                  pool: SlotPool | None = None) -> Session:
    """A session for the run; a setup mistake (missing API key, unknown GPU) marks the run failed."""
    try:
        return Session(store, run_id, settings, events, pool)
    except UserInputError:
        store.finish_run(run_id, "failed")
        raise


def _open_pool(store: RunStore, run_id: str, settings: RunSettings, executor: str, gpus: str | None,
               workers: int | None, ray_address: str | None, events: LiveEvents) -> SlotPool:
    """The GPU workers (started in the background: their health checks overlap the run's setup). A bad
    option (--gpus 7 on a 2-GPU machine, Ray missing) marks the run failed, like other setup mistakes."""
    # Ray: the cluster's GPUs count, not this machine's (the driver may have none).
    try:
        device = settings.device if executor == "ray" else resolve_device(settings.device)
        pool = open_pool(executor, device, gpus, workers, ray_address, store.root / run_id / "workers",
                         events.pool_event)
    except UserInputError:
        store.finish_run(run_id, "failed")
        raise
    events.pool = pool
    return pool


def _record_pool(store: RunStore, run_id: str, pool: SlotPool, wall_s: float) -> dict[str, Any]:
    """Keep the pool's report (slots, jobs, crashes, drained GPUs) with the run, and print it."""
    report = pool.report() | {"wall_s": round(wall_s, 3)}
    env = store.run(run_id).get("env") or {}
    store.set_run_env(run_id, env | {"executor": report})
    table = Table(title=f"{report['executor']} workers ({wall_s:.1f} s)")
    for col in ("worker", "device", "state", "jobs", "busy s", "crashes", "note"):
        table.add_column(col)
    for sl in report["slots"]:
        table.add_row(sl["name"], sl["device"] or "-", sl["state"], str(sl["jobs"]), f"{sl['busy_s']:.1f}",
                      str(sl["crashes"]), sl["reason"])
    console.print(table)
    return report


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
                      str(store.task_dir(run_id, t["key"])) if t["status"] == "done"
                      else (t["error"] or "").split("\n")[0])
    console.print(table)


def resume_command(kind: str, target: Path, run_id: str, out: Path) -> str:
    """The exact command that continues a run (what a stopped run prints)."""
    return shlex.join(["tritonwright", kind, str(target), "--resume", run_id, "--out", str(out)])


@contextmanager
def run_guard(store: RunStore, run_id: str, resume: str) -> Iterator[None]:
    """A run never stays `running` when it stops early: Ctrl-C marks it (and its tasks in flight)
    `interrupted`, a run-level error (unreachable LLM, no healthy GPU, a setup mistake) `failed`; both print
    the exact --resume command. Tasks in flight are marked `interrupted`, so the resumed run redoes them."""
    try:
        yield
    except KeyboardInterrupt:
        store.stop_running(run_id, "interrupted", "the run was interrupted (Ctrl-C) while this task ran")
        store.finish_run(run_id, "interrupted")
        console.print(f"interrupted: run {run_id} kept; continue with: {resume}", markup=False, highlight=False)
        raise typer.Exit(130) from None  # 128 + SIGINT, what a shell reports for Ctrl-C
    except (UserInputError, PoolUnavailable) as exc:
        line = one_line(str(exc))
        store.stop_running(run_id, "interrupted", f"the run stopped: {line}")
        store.finish_run(run_id, "failed")
        raise UserInputError(f"{line} (run {run_id} marked failed; once fixed, continue with: {resume})"
                             ) from None


def _record_env(store: RunStore, run_id: str, session: Session, sources: dict[str, Path | None]) -> None:
    """The run's environment (versions, device, prompt GPU spec and why, precision, --set, commits), kept
    beside what the pool records, for reports and `export`."""
    env = store.run(run_id).get("env") or {}
    store.set_run_env(run_id, env | run_environment(session.device, session.gpu.name, session.gpu_note,
                                                    session.settings.overrides, sources,
                                                    session.settings.eval.precision))


def optimize_command(
    task: Annotated[Path, typer.Argument(help="Task file (KernelBench format)")],
    from_: Annotated[Path | None, typer.Option("--from", help="Start from this ModelNew candidate")] = None,
    llm: opts.Llm = None,
    gpu: opts.Gpu = None,
    stages: opts.Stages = None,
    style: opts.Style = "compact",
    kind: opts.Kind = None,
    max_repairs: opts.MaxRepairs = DEFAULT_MAX_REPAIRS,
    threshold: opts.Threshold = DEFAULT_THRESHOLD,
    floor_stop: opts.FloorStop = DEFAULT_FLOOR_STOP,
    race: opts.Race = True,
    strict: opts.Strict = False,
    out: opts.Out = opts.OUT_DEFAULT,
    device: opts.Device = opts.DEVICE_DEFAULT,
    set_: opts.Set = None,
    profile: opts.Profile = None,
    no_cache: opts.NoCache = False,
    resume: opts.Resume = None,
    quiet: opts.Quiet = False,
    atol: opts.Atol = None,
    rtol: opts.Rtol = None,
    candidates: opts.Candidates = 1,
    precision: opts.Precision = opts.PRECISION_DEFAULT,
    fp64_k: opts.Fp64K = None,
    gpus: Annotated[str | None, typer.Option(help="GPU index to run on (default: the first visible GPU)")] = None,
    start_: Annotated[str | None, typer.Option("--start", help="inductor: start from torch.compile's generated "
                                               "Triton code (the default without --from and --llm); none: never")
                      ] = None,
) -> None:
    """Optimize one task: seed, repair, four stages, final check; writes best.py and a report."""
    store = RunStore(out)
    if resume:
        settings, from_ = _resumed_optimize(store, resume, from_)
    else:
        settings = _settings(device, llm, gpu, kind, stages, style, max_repairs, threshold, set_, profile,
                             no_cache, atol, rtol, candidates, floor_stop=floor_stop, precision=precision,
                             fp64_k=fp64_k, race=race, strict=strict)
    run_id = resume or ""
    entry, start = _optimize_start(task, from_, start_, bool(resume), settings)
    device = _optimize_device(gpus, settings)
    if not run_id:
        run_id = store.create_run("optimize", settings.to_dict()
                                  | {"start": {"from": None if from_ is None else str(from_)}})
    outcome, session = _optimize_run(store, run_id, settings, entry, start, from_=from_, resume=bool(resume),
                                     gpus=gpus, device=device, quiet=quiet,
                                     guard=resume_command("optimize", task, run_id, out))
    store.finish_run(run_id, "done" if outcome.status == "done" else "failed")
    _print_outcome(store, run_id, entry.key, outcome, session)
    raise typer.Exit(0 if outcome.status == "done" else 1)


def _resumed_optimize(store: RunStore, run_id: str, from_: Path | None) -> tuple[RunSettings, Path | None]:
    """The settings a run was started with, and its --from unless another is given now."""
    config = store.run(run_id)["config"]
    recorded_from = (config.get("start") or {}).get("from")
    return RunSettings.from_dict(config), from_ or (Path(recorded_from) if recorded_from else None)


def _optimize_start(task: Path, from_: Path | None, start_: str | None, resume: bool, settings: RunSettings
                    ) -> tuple[TaskEntry, Candidate | None]:
    """The task and its starting point: --from, else torch.compile's code (--start inductor, or neither --from
    nor --llm), else none (the LLM writes one). A resumed run keeps its recorded start."""
    entry = task_entry(task)
    if not entry.path.is_file():
        raise UserInputError(f"{task}: task file not found")
    start = start_candidate(entry, from_) if not resume or from_ is not None else None
    if start_ not in (None, "inductor", "none"):
        raise UserInputError(f"--start {start_}: expected inductor or none")
    if not resume and (start_ == "inductor" or (start is None and not settings.llm and start_ != "none")):
        from tritonwright.inductor_seed import cli_start

        start = cli_start(entry.path, settings.overrides, resolve_device(settings.device), from_ is not None,
                          bool(settings.llm), start_ == "inductor", console.print)
    if start is None and not settings.llm and not resume:
        raise UserInputError("nothing to start from: pass --from CANDIDATE.py (your ModelNew) or --llm SPEC "
                             "(e.g. openai:gpt-5) so one can be written")
    return entry, start


def _optimize_device(gpus: str | None, settings: RunSettings) -> str:
    """The device of a one-task run; --gpus names at most one GPU, and only on a GPU run."""
    if gpus is not None and "," in gpus:
        raise UserInputError(f"--gpus {gpus}: optimize runs one task, one job at a time, on one GPU "
                             "(use batch to spread tasks over several)")
    device = resolve_device(settings.device)
    if gpus is not None and device != "cuda":
        raise UserInputError("--gpus needs --device cuda (this is a CPU run)")
    return device


def _optimize_run(store: RunStore, run_id: str, settings: RunSettings, entry: TaskEntry, start: Candidate | None,
                  *, from_: Path | None, resume: bool, gpus: str | None, device: str, quiet: bool, guard: str
                  ) -> tuple[TaskOutcome, Session]:
    """The task on one worker (the first visible GPU unless told otherwise), under the run's guard (`guard`:
    the command that resumes it)."""
    with run_guard(store, run_id, guard), LiveEvents(quiet) as events:
        events.store, events.run_id = store, run_id
        # One task runs one job at a time: one worker, on the first visible GPU unless told otherwise.
        pool = _open_pool(store, run_id, settings, "local", (gpus or "0") if device == "cuda" else None, None,
                          None, events)
        try:
            session = _open_session(store, run_id, settings, events, pool)
            _record_env(store, run_id, session, {"task": entry.path, "candidate": from_})
            if resume and start is None:
                row = store.task(run_id, entry.key)
                start = start_candidate(entry, None) if row is None or row["status"] == "interrupted" else None
            outcome = session.run_task(entry, start)
        finally:
            pool.close()
    return outcome, session


def _print_outcome(store: RunStore, run_id: str, key: str, outcome: TaskOutcome, session: Session) -> None:
    console.print(f"[bold]{key}[/bold]: {outcome.status}" + (f" ({outcome.error})" if outcome.error else ""),
                  highlight=False)
    if session.gpu_note:
        console.print(f"GPU: {session.gpu.name} ({session.gpu_note})" if session.device == "cuda"
                      else f"GPU: {session.gpu_note}", highlight=False)
    from tritonwright.report.fmt import time_by_stage  # the reports are written by now: no extra import cost

    _summary(store, run_id)
    row = store.task(run_id, key)
    spent = time_by_stage([(a.stage, a.wall_s) for a in store.attempts(run_id, key)],
                          row["wall_s"] if row is not None else None)
    if spent:
        console.print(f"time: {spent}", highlight=False)  # each stage's steps, then the rest of the task's wall
    for f in outcome.files:
        console.print(f"wrote {f}", highlight=False)


def batch_command(
    folder: Annotated[Path, typer.Argument(help="Folder of tasks: KernelBench files (N_name.py, under levelK/ "
                                                "or not) or NAME/task.py folders, each with an optional "
                                                "NAME/candidate.py to start from")],
    from_dir: Annotated[Path | None, typer.Option("--from-dir", help="Folder of your ModelNew candidates, one "
                                                  "per task by name: NAME.py or NAME/candidate.py (NAME: the "
                                                  "task's file stem or folder)")] = None,
    level: Annotated[int | None, typer.Option(min=1, max=3, help="Only tasks under levelN/")] = None,
    range_: Annotated[str | None, typer.Option("--range", help="A:B over numeric prefixes, inclusive")] = None,
    first_n: Annotated[int | None, typer.Option(min=1, help="Only the first N tasks (after --level/--range)")
                       ] = None,
    sample: Annotated[int | None, typer.Option(min=1, help="Pick K tasks at random (with --seed)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed of --sample")] = 0,
    llm: opts.Llm = None,
    gpu: opts.Gpu = None,
    stages: opts.Stages = None,
    style: opts.Style = "compact",
    max_repairs: opts.MaxRepairs = DEFAULT_MAX_REPAIRS,
    threshold: opts.Threshold = DEFAULT_THRESHOLD,
    floor_stop: opts.FloorStop = DEFAULT_FLOOR_STOP,
    race: opts.Race = True,
    strict: opts.Strict = False,
    out: opts.Out = opts.OUT_DEFAULT,
    device: opts.Device = opts.DEVICE_DEFAULT,
    set_: opts.Set = None,
    profile: opts.Profile = None,
    no_cache: opts.NoCache = False,
    resume: opts.Resume = None,
    quiet: opts.Quiet = False,
    atol: opts.Atol = None,
    rtol: opts.Rtol = None,
    candidates: opts.Candidates = 1,
    precision: opts.Precision = opts.PRECISION_DEFAULT,
    fp64_k: opts.Fp64K = None,
    gpus: Annotated[str | None, typer.Option(help="GPU indexes, e.g. 0,1,3 (default: all visible); one "
                                                  "worker per GPU")] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="CPU runs: interpreter workers (default 1); Ray: "
                                                             "at most this many GPUs")] = None,
    executor: Annotated[str, typer.Option(help="local (this machine's GPUs) | ray (a Ray cluster)")] = "local",
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster: auto or HOST:PORT (default: start a "
                                                          "local Ray)")] = None,
    tasks_at_once: Annotated[int | None, typer.Option(min=1, help="Tasks in flight (default: workers + 1, "
                                                                   "twice the workers with an LLM)")] = None,
) -> None:
    """Optimize every task of a folder over all GPUs; resumable with --resume RUN after any kill.

    Starting points, per task: --from-dir DIR/NAME.py or DIR/NAME/candidate.py, else NAME/candidate.py beside
    NAME/task.py, else an LLM's answer (--llm), else torch.compile's generated Triton code."""
    store = RunStore(out)
    if resume:
        run = store.run(resume)
        settings, sel = RunSettings.from_dict(run["config"]), BatchSelection.recorded(run["config"], folder)
    else:
        settings = _settings(device, llm, gpu, None, stages, style, max_repairs, threshold, set_, profile, no_cache,
                             atol, rtol, candidates, floor_stop=floor_stop, precision=precision,
                             fp64_k=fp64_k, race=race, strict=strict)
        sel = BatchSelection(folder, level, range_, first_n, sample, seed, from_dir)
    entries = sel.entries()
    run_id = resume or store.create_run("batch", settings.to_dict() | {"batch": sel.to_config()})
    console.print(f"run {run_id}: {len(entries)} tasks", highlight=False)
    _batch_run(store, run_id, settings, sel, entries, guard=resume_command("batch", sel.folder, run_id, out),
               quiet=quiet, where=PoolChoice(executor, gpus, workers, ray_address), tasks_at_once=tasks_at_once)
    _finish_batch(store, run_id)


def _finish_batch(store: RunStore, run_id: str) -> None:
    """The run done: its table on the console, and the batch report beside it."""
    store.finish_run(run_id)
    _summary(store, run_id)
    from tritonwright.report import write_batch_report

    for f in write_batch_report(store.bundle(run_id), store.root / run_id):
        console.print(f"wrote {f}", highlight=False)


@dataclass(frozen=True)
class BatchSelection:
    """Which tasks a batch runs (recorded with the run, so --resume runs the same ones)."""

    folder: Path
    level: int | None = None
    range_: str | None = None
    first_n: int | None = None
    sample: int | None = None
    seed: int = 0  # --seed's default: --sample picks the same tasks every time unless told otherwise
    from_dir: Path | None = None

    @staticmethod
    def recorded(config: dict[str, Any], folder: Path) -> BatchSelection:
        """The selection a run recorded (`folder`: the one given now, for runs that recorded none)."""
        b = config.get("batch", {})
        return BatchSelection(Path(b.get("folder", folder)), b.get("level"), b.get("range"), b.get("first_n"),
                              b.get("sample"), b.get("seed", 0), Path(b["from_dir"]) if b.get("from_dir") else None)

    def to_config(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "level": self.level, "range": self.range_, "first_n": self.first_n,
                "sample": self.sample, "seed": self.seed,
                "from_dir": None if self.from_dir is None else str(self.from_dir)}

    def entries(self) -> list[TaskEntry]:
        """The tasks, in order, each with its starting candidate when --from-dir has one."""
        entries = select(discover(self.folder, self.level), self.range_, self.first_n, self.sample, self.seed)
        if not entries:
            raise UserInputError(f"{self.folder}: no tasks found (files with class Model and get_inputs, or "
                                 "*/task.py)")
        if self.from_dir is not None:
            entries = attach_candidates(entries, self.from_dir)
        return entries


class PoolChoice(NamedTuple):
    """Where a batch's jobs run: --executor, --gpus, --workers, --ray-address."""

    executor: str
    gpus: str | None
    workers: int | None
    ray_address: str | None


def in_flight(tasks_at_once: int | None, ready: int, has_llm: bool) -> int:
    """Tasks run at once: --tasks-at-once, else one more than the workers, or twice the workers with an LLM."""
    # Without an LLM a task keeps one job queued at a time: one more task than workers hides the gaps
    # between its jobs; with an LLM tasks mostly wait for replies, so twice as many keep GPUs fed.
    return tasks_at_once or (2 * ready if has_llm else ready + 1)


def pending_entries(store: RunStore, run_id: str, entries: list[TaskEntry], events: LiveEvents) -> list[TaskEntry]:
    """The tasks still to run: a resumed run skips those done or failed (and counts them as done)."""
    todo = []
    for entry in entries:
        row = store.task(run_id, entry.key)
        if row is not None and row["status"] in {"done", "failed"}:
            events.done += 1
        else:
            todo.append(entry)
    return todo


def _batch_run(store: RunStore, run_id: str, settings: RunSettings, sel: BatchSelection, entries: list[TaskEntry],
               *, guard: str, quiet: bool, where: PoolChoice, tasks_at_once: int | None) -> None:
    """The tasks over the pool's workers, under the run's guard (`guard`: the command that resumes it); the
    pool's report is kept with the run however it ends."""
    t0 = time.monotonic()
    with run_guard(store, run_id, guard), LiveEvents(quiet, total=len(entries)) as events:
        events.store, events.run_id = store, run_id
        pool = _open_pool(store, run_id, settings, *where, events)
        try:
            session = _open_session(store, run_id, settings, events, pool)
            _record_env(store, run_id, session, {"tasks folder": sel.folder, "candidates folder": sel.from_dir})
            todo = pending_entries(store, run_id, entries, events)
            ready = pool.wait_ready()
            if ready == 0:
                raise PoolUnavailable("no worker passed its health check: " + "; ".join(
                    f"{sl['name']}: {sl['reason']}" for sl in pool.report()["slots"]))
            _run_batch(session, todo, in_flight(tasks_at_once, ready, session.llm is not None), events, pool)
        except PoolUnavailable:
            _record_pool(store, run_id, pool, time.monotonic() - t0)
            raise
        finally:
            pool.close()
    _record_pool(store, run_id, pool, time.monotonic() - t0)


def _run_batch(session: Session, todo: list[TaskEntry], in_flight: int, events: LiveEvents, pool: SlotPool
               ) -> None:
    """Tasks in threads, `in_flight` at a time, in the batch's order; their GPU jobs share the pool. A task
    failing is recorded and the rest go on; a run-level error (no healthy GPU, a user mistake) or Ctrl-C
    closes the pool at once, so the tasks in flight stop (left `running`, for --resume) instead of
    finishing first."""

    def one(entry: TaskEntry) -> None:
        try:
            start = start_candidate(entry, None)
            # no candidate, no LLM: torch.compile's code as the seed (a resumed task has its seed recorded)
            if start is None and session.llm is None and not session.seed_recorded(entry.key):
                start, seed_error = session.inductor_start(entry)
                if start is None:
                    session.store.start_task(session.run_id, entry.key, str(entry.path), "", entry.level, None)
                    session.store.finish_task(session.run_id, entry.key, "failed", error=seed_error)
                    return
            session.run_task(entry, start)
        finally:
            events.finished(entry.key)

    tp = ThreadPoolExecutor(max_workers=max(1, in_flight), thread_name_prefix="tritonwright-task")
    futures = [tp.submit(one, e) for e in todo]
    try:
        done, _ = wait_futures(futures, return_when=FIRST_EXCEPTION)
        errors = [f.exception() for f in done if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
    except BaseException:
        for f in futures:
            f.cancel()
        pool.close()  # jobs in flight end with PoolClosed; their tasks stop without being marked failed
        raise
    finally:
        tp.shutdown(wait=True, cancel_futures=True)


def runs_command(out: opts.Out = opts.OUT_DEFAULT) -> None:
    """List runs."""
    store = RunStore(out, create=False)
    table = Table()
    for col in ("run", "kind", "status", "created", "tasks"):
        table.add_column(col)
    for r in store.runs():
        tasks = store.tasks(r["id"])
        done = sum(t["status"] == "done" for t in tasks)
        table.add_row(r["id"], r["kind"], r["status"], r["created"], f"{done}/{len(tasks)} done")
    console.print(table)


def show_command(run: Annotated[str, typer.Argument(help="Run id (from `tritonwright runs`)")],
                 task: Annotated[str | None, typer.Argument(help="Task key (default: every task)")] = None,
                 out: opts.Out = opts.OUT_DEFAULT) -> None:
    """Print the attempt timeline of a run's task(s); reasons and errors in full, wrapped."""
    store = RunStore(out, create=False)
    store.run(run)
    keys = [task] if task else [t["key"] for t in store.tasks(run)]
    for key in keys:
        row = store.task(run, key)
        if row is None:
            raise UserInputError(f"run {run} has no task {key!r}")
        table = Table(title=f"{key} ({row['status']})", show_lines=True)
        for col in ("#", "stage", "origin", "status", "ms", "vs eager", "decision"):
            table.add_column(col, no_wrap=True)
        table.add_column("reason", overflow="fold", ratio=1)  # wrapped, never cut: the reason is the point
        for a in store.attempts(run, key):
            table.add_row(str(a.seq), a.stage, a.origin, a.status or "-",
                          "-" if a.median_ms is None else f"{a.median_ms:.4f}",
                          "-" if a.speedup_eager is None else f"{a.speedup_eager:.2f}x", a.decision,
                          (a.decision_reason or a.reason or "").strip())
        console.print(table)
        if row["error"]:
            console.print(f"{key}: error: ", end="", style="red")
            console.print(row["error"].strip(), markup=False, highlight=False)


def export_command(run: Annotated[str, typer.Argument(help="Run id (from `tritonwright runs`)")],
                   out: opts.Out = opts.OUT_DEFAULT,
                   to: Annotated[Path | None, typer.Option(help="File to write (default: RUN.json)")] = None) -> None:
    """Write a run as one JSON bundle."""
    store = RunStore(out, create=False)
    target = to or Path(f"{run}.json")
    target.write_text(json.dumps(store.bundle(run), indent=1, allow_nan=False))
    console.print(f"wrote {target}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("optimize")(optimize_command)
    app.command("batch")(batch_command)
    app.command("runs")(runs_command)
    app.command("show")(show_command)
    app.command("export")(export_command)
