"""Wiring for `optimize` and `batch`: build the seams for a device, run tasks, write best.py and reports.

A batch runs tasks in the natural order of their numeric prefixes; one task failing never stops it, and
`resume` continues a killed run: finished tasks are not redone, recorded steps are not re-asked or
re-evaluated.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tritonwright.candidate import Candidate, read_candidate
from tritonwright.defaults import ASSUMED_GPU
from tritonwright.errors import TaskError, UserInputError, one_line
from tritonwright.eval.runner import resolve_device
from tritonwright.eval.types import EvalConfig, KernelShare
from tritonwright.executors.jobs import Executor, InlineExecutor
from tritonwright.executors.pool import PoolUnavailable
from tritonwright.floor import NO_GPU_REASON
from tritonwright.gpus.spec import GpuSpec, get_gpu
from tritonwright.pipeline.optimize import (
    Events,
    OptimizeConfig,
    TaskOptimizer,
    TaskOutcome,
    best_file_header,
)
from tritonwright.pipeline.seams import (
    Comparer,
    Evaluator,
    HarnessComparer,
    HarnessEvaluator,
    HarnessFloor,
    HarnessRival,
    NcuProfiler,
    NoFloor,
    NoProfiler,
    Profiler,
)
from tritonwright.seams import LLM, Tuner
from tritonwright.store import RunStore, safe_key
from tritonwright.task import Task, load_task

CPU_DEFAULT_GPU = ASSUMED_GPU  # prompts need a target; on CPU there is none to detect (defaults.py)


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs besides the tasks; recorded with the run so resume uses the same."""

    device: str = "auto"
    llm: str | None = None
    gpu: str | None = None
    kind: str | None = None
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    overrides: dict[str, str] = field(default_factory=dict)
    # ncu before each stage (GPU only); None: only when an LLM reads the metrics (the tuner times configs itself,
    # and a profile cost 10 s of the softmax example's 84 s no-LLM optimize on the H200)
    profile: bool | None = None
    ncu_path: str | None = None
    no_cache: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["optimize"]["stages"] = list(self.optimize.stages)
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> RunSettings:
        d = {k: v for k, v in d.items() if k not in ("batch", "start")}  # stored beside the settings
        opt = dict(d.pop("optimize"))
        opt["stages"] = tuple(opt["stages"])
        return RunSettings(optimize=OptimizeConfig(**opt), eval=EvalConfig(**d.pop("eval")), **d)


@dataclass
class TaskEntry:
    key: str
    path: Path
    start: Path | None  # a candidate.py beside task.py is the starting point
    level: int | None


def natural_key(name: str) -> tuple[Any, ...]:
    """'10_x' after '9_x': numbers compare as numbers."""
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name))


def _level(path: Path) -> int | None:
    for part in reversed(path.parts):
        m = re.fullmatch(r"level[_-]?(\d)", part.lower())
        if m:
            return int(m.group(1))
    return None


def discover(folder: Path, level: int | None = None) -> list[TaskEntry]:
    """Tasks in a KernelBench-style folder: `N_name.py` files (under levelK/ folders or not), or
    `name/task.py` folders as in examples/ (with an optional `name/candidate.py` starting point)."""
    if not folder.is_dir():
        raise UserInputError(f"{folder}: not a folder of tasks")
    entries: list[TaskEntry] = []
    for path in sorted(folder.rglob("*.py"), key=lambda p: natural_key(str(p.relative_to(folder)))):
        rel = path.relative_to(folder)
        if any(part.startswith((".", "__")) for part in rel.parts):
            continue
        if path.name == "task.py":
            start = path.parent / "candidate.py"
            key = str(rel.parent)
            entries.append(TaskEntry(key, path, start if start.exists() else None, _level(rel)))
        elif path.name != "candidate.py" and _is_task_file(path):
            entries.append(TaskEntry(str(rel.with_suffix("")), path, None, _level(rel)))
    if level is not None:
        entries = [e for e in entries if e.level == level]
    entries.sort(key=lambda e: natural_key(e.key))
    return entries


def attach_candidates(entries: list[TaskEntry], folder: Path) -> list[TaskEntry]:
    """`batch --from-dir DIR`: each task's starting ModelNew from DIR, by the task's name (the file stem of
    `19_ReLU.py`, the folder of `relu/task.py`): DIR/KEY.py, DIR/NAME.py or DIR/NAME/candidate.py, KEY keeping
    level folders (DIR/level1/19_ReLU.py). A task with none keeps its own candidate.py or falls back to the
    LLM / torch.compile seed; a folder matching no task at all is a mistake (a wrong path or naming)."""
    if not folder.is_dir():
        raise UserInputError(f"--from-dir {folder}: not a folder")
    out: list[TaskEntry] = []
    matched = 0
    for e in entries:
        name = Path(e.key).name
        found = next((c for c in (folder / f"{e.key}.py", folder / f"{name}.py", folder / e.key / "candidate.py",
                                  folder / name / "candidate.py") if c.is_file()), None)
        matched += found is not None
        out.append(dataclasses.replace(e, start=found or e.start))
    if matched == 0:
        names = ", ".join(Path(e.key).name for e in entries[:3])
        raise UserInputError(f"--from-dir {folder}: no candidate for any task; name them after the tasks "
                             f"(e.g. {folder}/{Path(entries[0].key).name}.py or "
                             f"{folder}/{Path(entries[0].key).name}/candidate.py; tasks: {names} ...)")
    return out


def _is_task_file(path: Path) -> bool:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return False
    return "class Model" in text and "def get_inputs" in text


def select(entries: list[TaskEntry], range_: str | None, first_n: int | None, sample: int | None, seed: int
           ) -> list[TaskEntry]:
    """--range A:B over the numeric prefixes (inclusive), --first-n, --sample K with a seed."""
    if range_:
        m = re.fullmatch(r"(\d*):(\d*)", range_)
        if not m:
            raise UserInputError(f"--range {range_}: expected A:B, e.g. 1:20")
        lo = int(m.group(1)) if m.group(1) else None
        hi = int(m.group(2)) if m.group(2) else None

        def number(e: TaskEntry) -> int | None:
            n = re.match(r"(\d+)", Path(e.key).name)
            return int(n.group(1)) if n else None

        entries = [e for e in entries if (n := number(e)) is not None and (lo is None or n >= lo)
                   and (hi is None or n <= hi)]
    if first_n is not None:
        entries = entries[:first_n]
    if sample is not None and sample < len(entries):
        import random

        picked = sorted(random.Random(seed).sample(range(len(entries)), sample))
        entries = [entries[i] for i in picked]
    return entries


class Session:
    """Shared per run: device, GPU spec, LLM provider, store."""

    def __init__(self, store: RunStore, run_id: str, settings: RunSettings, events: Events | None,
                 executor: Executor | None = None) -> None:
        self.store, self.run_id, self.settings, self.events = store, run_id, settings, events
        self.executor: Executor = executor or InlineExecutor()  # the pool's workers, or this process
        # Where the jobs run: the pool knows (a Ray cluster's GPUs while this machine has none).
        self.device = getattr(executor, "device", None) or resolve_device(settings.device)
        self.gpu, self.gpu_note = self._gpu()
        self.llm_check = ""
        self.llm = self._llm()

    def _gpu(self) -> tuple[GpuSpec, str]:
        if self.settings.gpu:
            return get_gpu(self.settings.gpu), f"--gpu {self.settings.gpu}"
        if self.device == "cuda":
            from tritonwright.gpus.detect import DeviceProps, detect_gpu, read_device_props

            health = getattr(self.executor, "health", None)
            remote = health() if health is not None else None
            if remote and remote.get("props"):  # the device a worker checked: right even with no GPU here
                det = detect_gpu(DeviceProps(**remote["props"]))
            else:
                det = detect_gpu(read_device_props())
            return det.spec, "detected" + (": " + "; ".join(det.notes) if getattr(det, "notes", None) else "")
        note = (f"no GPU: this is a CPU run (Triton interpreter), so the prompts describe an assumed target, the "
                f"{CPU_DEFAULT_GPU} (pass --gpu NAME to choose another)")
        return dataclasses.replace(get_gpu(CPU_DEFAULT_GPU), note=note), note

    @property
    def gpu_label(self) -> str:
        """What reports and best.py say about the GPU: the device measured on, or that there was none."""
        if self.device == "cuda":
            return self.gpu.name
        return f"none (CPU run; prompts assumed {self.gpu.name})"

    def _llm(self) -> LLM | None:
        if not self.settings.llm:
            return None
        from tritonwright.llm.factory import LLMSettings, make_provider

        cache = None if self.settings.no_cache else str(self.store.root / "llm-cache")
        provider = make_provider(self.settings.llm, LLMSettings(cache_dir=cache,
                                                                use_cache=not self.settings.no_cache))
        # Before the first task: a wrong URL, a dead server or a refused key fails here in seconds (typed,
        # with the URL), not after minutes of retries and repair rounds. replay/manual have nothing to reach.
        self.llm_check = provider.check()
        return provider

    def seams(self, task: Task, label: str = "") -> tuple[Evaluator, Comparer | None, Profiler, Tuner]:
        # The floor comes with the seed's evaluation where there is a GPU (floor_probe's child is the fallback).
        cfg = dataclasses.replace(self.settings.eval, device=self.device, floor=self.device == "cuda")
        ex = self.executor
        evaluator = HarnessEvaluator(task, cfg, ex, label)
        timed = self.device == "cuda"
        comparer = HarnessComparer(task, cfg, executor=ex, label=label) if timed else None
        if not timed:
            profiler: Profiler = NoProfiler("no GPU: ncu needs one (CPU mode)")
        elif self.settings.profile is False:
            profiler = NoProfiler("profiling turned off (--no-profile)")
        elif self.settings.profile is None and self.llm is None:
            profiler = NoProfiler("not profiled: no LLM reads the metrics and the tuner times its configs itself "
                                  "(--profile profiles anyway)")
        else:
            profiler = NcuProfiler(task, ncu_path=self.settings.ncu_path, executor=ex, label=label)
        tuner = _tuner(evaluator, comparer, self.gpu, timed, self.settings.optimize.threshold)
        return evaluator, comparer, profiler, tuner

    def floor_probe(self, task: Task, label: str = "") -> HarnessFloor | NoFloor:
        """The task's floor on the run's GPU (a job like the evaluations); none on CPU, where nothing stops."""
        if self.device != "cuda":
            return NoFloor(NO_GPU_REASON)
        return HarnessFloor(task, self.device, self.settings.eval.cache_dir, executor=self.executor, label=label)

    def seed_recorded(self, key: str) -> bool:
        """The task's seed step is in the store (a resumed run): its start is not needed again."""
        return self.store.attempt(self.run_id, key, "seed") is not None

    def inductor_start(self, entry: TaskEntry) -> tuple[Candidate | None, str]:
        """torch.compile's code as the start of a task with no candidate and no LLM, made by a job on the run's
        executor (a GPU slot: never beside another task's timing); or the one-line reason it cannot be."""
        try:
            task = load_task(entry.path, self.settings.overrides)
        except UserInputError as exc:  # TaskError included: recorded as this task's failure
            return None, one_line(str(exc))
        workdir = str(self.store.task_dir(self.run_id, entry.key) / "inductor-seed")
        outcome = HarnessRival(task, self.device, workdir, self.executor, entry.key).make()  # a lost job: its reason
        return outcome.candidate, outcome.reason

    def rival(self, task: Task, key: str) -> HarnessRival | None:
        """torch.compile's code to race a best not clearly ahead of it (pipeline/race.py), made by a job on the
        task's executor (none on CPU, where nothing is timed)."""
        if self.device != "cuda":
            return None
        return HarnessRival(task, self.device, str(self.store.task_dir(self.run_id, key) / "race"), self.executor,
                            key)

    def run_task(self, entry: TaskEntry, start: Candidate | None) -> TaskOutcome:
        from tritonwright.prompts.kind import detect_kind

        try:
            task = load_task(entry.path, self.settings.overrides)
        except TaskError as exc:  # a bad task or --set is that task's failure: a batch goes on
            return self._task_failed(entry, exc)
        kind = self.settings.kind or detect_kind(task.source, task.path)
        self.store.start_task(self.run_id, entry.key, str(entry.path), task.hash, entry.level, kind)
        evaluator, comparer, profiler, tuner = self.seams(task, entry.key)
        opt = TaskOptimizer(key=entry.key, task=task, store=self.store, run_id=self.run_id,
                            config=dataclasses.replace(self.settings.optimize, timed=self.device == "cuda"),
                            evaluator=evaluator, comparer=comparer, profiler=profiler, llm=self.llm, gpu=self.gpu,
                            kind=kind, events=self.events, tuner=tuner, floor=self.floor_probe(task, entry.key),
                            rival=self.rival(task, entry.key))
        try:
            outcome = opt.run(start)
        except TaskError as exc:  # get_inputs()/get_init_inputs() raised, a size the task cannot take, ...
            return self._task_failed(entry, exc)
        except (UserInputError, PoolUnavailable):  # the run's problem, not the task's: it stays resumable
            raise
        except Exception as exc:  # one task failing never stops a batch: the error is recorded
            tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-2000:]
            self.store.finish_task(self.run_id, entry.key, "failed", error=f"{type(exc).__name__}: {exc}\n{tail}")
            return TaskOutcome(entry.key, "failed", f"{type(exc).__name__}: {exc}")
        self.store.finish_task(self.run_id, entry.key, outcome.status, error=outcome.error)
        outcome.files = self._write_outputs(entry, task, outcome)  # after finishing: reports show the final status
        return outcome

    def _task_failed(self, entry: TaskEntry, exc: TaskError) -> TaskOutcome:
        """The task itself cannot run (its setup raised): one line naming file, function and error, with
        the --set overrides it ran with; the full text stays in the store."""
        line = one_line(str(exc))
        if self.settings.overrides:
            line += " (with " + " ".join(f"--set {k}={v}" for k, v in self.settings.overrides.items()) + ")"
        self.store.start_task(self.run_id, entry.key, str(entry.path), "", entry.level, None)
        self.store.finish_task(self.run_id, entry.key, "failed", error=f"{line}\n{exc}")
        return TaskOutcome(entry.key, "failed", line)

    def _write_outputs(self, entry: TaskEntry, task: Task, outcome: TaskOutcome) -> list[Path]:
        folder = self.store.task_dir(self.run_id, entry.key)
        files: list[Path] = []
        if outcome.best is not None:
            best = folder / "best.py"
            best.write_text(best_file_header(task, self.gpu_label, self.run_id, outcome.final) + outcome.best.source)
            files.append(best)
        files.extend(write_reports(self.store, self.run_id, entry.key, folder))
        return files


def _tuner(evaluator: Evaluator, comparer: Comparer | None, gpu: GpuSpec, timed: bool, threshold: float) -> Tuner:
    """The launch tuner on the task's own evaluator and comparer (the same executor as its other jobs)."""
    from tritonwright.tune.neighbourhoods import gpu_limits
    from tritonwright.tune.search import TuneReport, TuneSettings, tune

    limits = gpu_limits(gpu)

    def run(candidate: Candidate, stage: str, original_ms: float | None = None,
            budget_s: float | None = None, ab: bool = True, kernels: KernelShare | None = None) -> TuneReport:
        settings = TuneSettings(stage=stage, dry_run=not timed, threshold=threshold, limits=limits, ab=ab)
        if budget_s is not None:
            settings = dataclasses.replace(settings, budget_s=budget_s)
        return tune(candidate, evaluator, comparer if timed else None, settings, original_ms=original_ms,
                    kernels=kernels)

    return run


def write_reports(store: RunStore, run_id: str, key: str, folder: Path) -> list[Path]:
    """HTML and Markdown reports of one task, from the store's bundle."""
    from tritonwright.report import write_task_report

    return list(write_task_report(store.bundle(run_id), key, folder))


def start_candidate(entry: TaskEntry, explicit: Path | None) -> Candidate | None:
    if explicit is not None:
        return dataclasses.replace(read_candidate(explicit), origin="user")
    if entry.start is not None:
        return dataclasses.replace(read_candidate(entry.start), origin="user")
    return None


def task_entry(path: Path) -> TaskEntry:
    key = path.parent.name if path.name == "task.py" else path.stem
    return TaskEntry(safe_key(key), path, None, _level(path))
