"""Collect: run the candidate's forward under ncu in its own process and turn what comes back into data.

Every failure is a ProfileOutcome with a status and a one-line reason (ncu missing, no counter permission,
timeout, kernel not found, the candidate failing); the pipeline goes on with "No NCU metrics available".
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import tritonwright
from tritonwright.candidate import triton_kernel_names
from tritonwright.profile.metrics import metrics_for_stage
from tritonwright.profile.parse import (
    MetricCatalog,
    available_kernels,
    ncu_messages,
    parse_csv,
    parse_query_metrics,
)
from tritonwright.profile.render import NO_METRICS
from tritonwright.profile.report import ProfileReport
from tritonwright.sandbox import scrubbed_env
from tritonwright.task import Task

DEFAULT_NCU_TIMEOUT_S = 300.0  # the default; the full-size seed ELU takes ~10 s, big networks minutes
QUERY_TIMEOUT_S = 60.0  # --query-metrics lists ~5,500 metrics in about a second; a minute means it is stuck
CLOCK_CONTROLS = ("none", "base", "reset")
# Where ncu lives when it is not on PATH: CUDA toolkits and standalone Nsight Compute installs (newest first).
NCU_SEARCH_GLOBS: tuple[str, ...] = (
    "/usr/local/cuda/bin/ncu", "/usr/local/cuda-*/bin/ncu", "/opt/nvidia/nsight-compute/*/ncu",
    "/usr/local/NVIDIA-Nsight-Compute*/ncu", "/opt/cuda/bin/ncu",
)
PERMISSION_HELP = (
    "ncu may not read the GPU performance counters (ERR_NVGPUCTRPERM): run as root, or allow all users with "
    "`options nvidia NVreg_RestrictProfilingToAdminUsers=0` in a file under /etc/modprobe.d/ and reload the "
    "nvidia module (or reboot); in a container grant CAP_SYS_ADMIN "
    "(see https://developer.nvidia.com/ERR_NVGPUCTRPERM)"
)


class ProfileStatus(str, Enum):
    OK = "OK"
    NO_KERNELS_DEFINED = "NO_KERNELS_DEFINED"  # the candidate has no @triton.jit function
    NCU_MISSING = "NCU_MISSING"
    PERMISSION = "PERMISSION"  # ERR_NVGPUCTRPERM
    TIMEOUT = "TIMEOUT"
    KERNEL_NOT_FOUND = "KERNEL_NOT_FOUND"  # none of the candidate's kernels ran in the profiled range
    TARGET_FAILED = "TARGET_FAILED"  # the candidate or task failed inside the profiled program
    NCU_FAILED = "NCU_FAILED"  # ncu itself failed for another reason


@dataclass(frozen=True)
class ProfileSettings:
    """How to profile; frozen so it can be part of a cache key."""

    stage: str | None = None  # None: the core set only
    metrics: tuple[str, ...] = ()  # extra metrics on top of the stage's set
    launches: int = 1  # forward calls profiled, and launches kept per kernel: one unless asked for more
    max_launches: int = 64  # ncu --launch-count over all kernels: bounds ncu's time when forward loops
    warmup: int = 2  # forward calls before the range: JIT and autotuning stay out of the profile
    clock_control: str = "none"  # leave clocks as they are, so profiles and timings see the same clocks
    timeout_s: float = DEFAULT_NCU_TIMEOUT_S
    ncu_path: str | None = None  # None: PATH, $CUDA_HOME/bin, the usual install folders
    seed: int = 42
    inputs_on_host: bool = False  # True: run get_inputs() on the CPU as the evaluator does (slower)
    python: str = sys.executable

    def __post_init__(self) -> None:
        if self.clock_control not in CLOCK_CONTROLS:
            raise ValueError(f"clock_control must be one of {', '.join(CLOCK_CONTROLS)}")
        if self.launches < 1 or self.max_launches < 1 or self.warmup < 0 or self.timeout_s <= 0:
            raise ValueError("launches and max_launches must be >= 1, warmup >= 0, timeout_s > 0")

    def requested_metrics(self) -> tuple[str, ...]:
        return metrics_for_stage(self.stage, self.metrics)


@dataclass
class ProfileOutcome:
    status: ProfileStatus
    reason: str = ""
    report: ProfileReport | None = None
    kernels: tuple[str, ...] = ()  # the candidate's @triton.jit names (what was asked for)
    requested: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()  # left out: this ncu cannot collect them on this GPU
    notes: list[str] = field(default_factory=list)
    command: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    target: dict[str, Any] = field(default_factory=dict)  # what the profiled program reported

    @property
    def ok(self) -> bool:
        return self.status is ProfileStatus.OK

    def headline(self) -> str:
        """One line for reports: the metrics are there, or why not."""
        return "NCU metrics collected" if self.ok else f"{NO_METRICS}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value, "reason": self.reason, "kernels": list(self.kernels),
            "requested": list(self.requested), "unsupported": list(self.unsupported), "notes": list(self.notes),
            "command": list(self.command), "wall_s": round(self.wall_s, 3), "target": dict(self.target),
            "report": self.report.to_dict() if self.report else None,
        }


# --------------------------------------------------------------------------------------------------------
# Finding ncu and what it can collect.


def find_ncu(explicit: str | None = None, env: Mapping[str, str] | None = None,
             globs: Sequence[str] = NCU_SEARCH_GLOBS) -> str | None:
    """The ncu executable: the one named, else PATH, $CUDA_HOME/bin, $CUDA_PATH/bin, then `globs`."""
    env = os.environ if env is None else env
    if explicit:
        return explicit if os.path.isfile(explicit) and os.access(explicit, os.X_OK) else None
    found = shutil.which("ncu", path=env.get("PATH", ""))
    if found:
        return found
    candidates = [str(Path(env[v]) / "bin" / "ncu") for v in ("CUDA_HOME", "CUDA_PATH") if env.get(v)]
    for pattern in globs:
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    return next((c for c in candidates if os.path.isfile(c) and os.access(c, os.X_OK)), None)


@lru_cache(maxsize=8)
def query_metrics(ncu: str, timeout_s: float = QUERY_TIMEOUT_S) -> MetricCatalog | str:
    """`ncu --query-metrics` for the visible GPU, parsed; a string says why it could not be read."""
    try:
        proc = subprocess.run([ncu, "--query-metrics"], capture_output=True, text=True, timeout=timeout_s,
                              env=scrubbed_env())
    except subprocess.TimeoutExpired:
        return f"ncu --query-metrics killed after {timeout_s:g} s"
    except OSError as exc:
        return f"ncu --query-metrics could not start: {exc}"
    catalog = parse_query_metrics(proc.stdout)
    if proc.returncode != 0 or not catalog.bases:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"ncu --query-metrics failed (exit {proc.returncode}): {last[0]}"
    return catalog


# --------------------------------------------------------------------------------------------------------
# The command and the run.


def kernel_regex(kernels: Sequence[str]) -> str:
    """Exact names only: `regex:^(a|b)$`, never a substring match."""
    return "regex:^(" + "|".join(re.escape(k) for k in kernels) + ")$"


def build_command(ncu: str, settings: ProfileSettings, metrics: Sequence[str], kernels: Sequence[str],
                  task: Task, candidate_path: str, result_path: str, log_path: str) -> list[str]:
    cmd = [
        ncu, "--clock-control", settings.clock_control,
        "--profile-from-start", "off",  # only the range between cudaProfilerStart/Stop in target.py
        "--target-processes", "all",
        "--kernel-name", kernel_regex(kernels),
        "--launch-count", str(settings.max_launches),
        "--metrics", ",".join(metrics),
        "--csv", "--page", "raw", "--print-units", "base",
        "--log-file", log_path,  # keeps the program's own output out of the CSV
        settings.python, "-m", "tritonwright.profile.target",
        "--task", str(Path(task.path).resolve()), "--candidate", str(Path(candidate_path).resolve()),
        "--result", result_path, "--launches", str(settings.launches), "--warmup", str(settings.warmup),
        "--seed", str(settings.seed),
    ]
    for name, value in task.overrides.items():
        cmd += ["--set", f"{name}={value}"]
    if settings.inputs_on_host:
        cmd.append("--inputs-on-host")
    return cmd


def _child_env() -> dict[str, str]:
    """Scrubbed environment in which `python -m tritonwright.profile.target` imports this same package."""
    root = str(Path(tritonwright.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    return scrubbed_env(extra={"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"})


@dataclass
class _Run:
    returncode: int | None  # None: killed at the timeout
    output: str  # the program's stdout+stderr (ncu's log goes to the log file)
    wall_s: float


def _run(cmd: list[str], timeout_s: float) -> _Run:
    """Run in a new process group so a timeout kills ncu and the profiled program together."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_child_env(), start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return _Run(proc.returncode, out or "", time.perf_counter() - t0)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):  # it may have exited at the last moment
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return _Run(None, out or "", time.perf_counter() - t0)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _read_result(path: Path) -> dict[str, Any]:
    text = _read(path)
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def profile_candidate(task: Task, candidate_path: str, settings: ProfileSettings | None = None) -> ProfileOutcome:
    """Profile the candidate's own Triton kernels on the task's inputs. Never raises for a failed profile."""
    settings = settings or ProfileSettings()
    source = Path(candidate_path).read_text(encoding="utf-8")
    # 1. Which kernels: the exact @triton.jit names of the candidate.
    kernels = tuple(triton_kernel_names(source))
    requested = settings.requested_metrics()
    outcome = ProfileOutcome(ProfileStatus.OK, kernels=kernels, requested=requested)
    if not kernels:
        return _failed(outcome, ProfileStatus.NO_KERNELS_DEFINED, "the candidate defines no @triton.jit kernel")
    # 2. ncu, and the metrics it can collect on this GPU.
    ncu = find_ncu(settings.ncu_path)
    if ncu is None:
        where = settings.ncu_path or "PATH, $CUDA_HOME/bin and " + ", ".join(NCU_SEARCH_GLOBS)
        return _failed(outcome, ProfileStatus.NCU_MISSING,
                       f"ncu (Nsight Compute) not found in {where}; install it or name it with --ncu")
    catalog = query_metrics(ncu)
    metrics = requested
    if isinstance(catalog, MetricCatalog):
        metrics, outcome.unsupported = catalog.split(requested)
        if outcome.unsupported:
            outcome.notes.append(f"left out (not collectable on {catalog.device}): "
                                 + ", ".join(outcome.unsupported))
    else:
        outcome.notes.append(f"supported metrics unknown ({catalog}); requesting all")
    # 3. Run the target under ncu.
    with tempfile.TemporaryDirectory(prefix="tritonwright-ncu-") as tmp:
        log_path, result_path = Path(tmp) / "ncu.csv", Path(tmp) / "result.json"
        outcome.command = build_command(ncu, settings, metrics, kernels, task, candidate_path,
                                        str(result_path), str(log_path))
        run = _run(outcome.command, settings.timeout_s)
        outcome.wall_s = run.wall_s
        log_text = _read(log_path)
        outcome.target = _read_result(result_path)
    # 4. Decide what happened.
    return _classify(outcome, run, log_text, settings, metrics)


def _failed(outcome: ProfileOutcome, status: ProfileStatus, reason: str) -> ProfileOutcome:
    outcome.status, outcome.reason = status, reason
    return outcome


def _classify(outcome: ProfileOutcome, run: _Run, log_text: str, settings: ProfileSettings,
              metrics: Sequence[str]) -> ProfileOutcome:
    everything = log_text + "\n" + run.output
    if "ERR_NVGPUCTRPERM" in everything:
        return _failed(outcome, ProfileStatus.PERMISSION, PERMISSION_HELP)
    if run.returncode is None:
        return _failed(outcome, ProfileStatus.TIMEOUT, f"ncu killed after {settings.timeout_s:g} s "
                       "(ncu_timeout_s); profile fewer launches or a smaller problem")
    if outcome.target.get("ok") is False:
        return _failed(outcome, ProfileStatus.TARGET_FAILED, f"the profiled program failed at step "
                       f"{outcome.target.get('step')}: {outcome.target.get('error')}")
    report = parse_csv(log_text or run.output, kernels=outcome.kernels, requested=metrics)
    if not report.kernels:
        errors = ncu_messages(report.log, "ERROR")
        if errors or not outcome.target:
            tail = errors[-1] if errors else (run.output.strip().splitlines() or ["no output"])[-1]
            return _failed(outcome, ProfileStatus.NCU_FAILED, f"ncu exit {run.returncode}: {tail}")
        seen = available_kernels(report.log)
        return _failed(outcome, ProfileStatus.KERNEL_NOT_FOUND,
                       f"none of the candidate's kernels ({', '.join(outcome.kernels)}) ran in the profiled "
                       f"forward call" + (f"; ncu saw: {', '.join(seen)}" if seen else ""))
    _keep_first_launches(report, settings.launches, outcome.notes)
    never = [k for k in outcome.kernels if k not in report.kernels]
    if never:
        outcome.notes.append("defined but not launched: " + ", ".join(never))
    if report.missing:
        outcome.notes.append("ncu returned no values for: " + ", ".join(report.missing))
    if sum(len(k.launches) for k in report.kernels.values()) >= settings.max_launches:
        outcome.notes.append(f"reached --launch-count {settings.max_launches}: later launches not profiled")
    outcome.report = report
    return outcome


def _keep_first_launches(report: ProfileReport, launches: int, notes: list[str]) -> None:
    for kernel in report.kernels.values():
        if len(kernel.launches) > launches:
            notes.append(f"{kernel.name}: {len(kernel.launches)} launches profiled, first {launches} kept")
            del kernel.launches[launches:]
