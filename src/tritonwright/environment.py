"""What a run's reports say about where it ran: versions, device, the GPU spec the prompts used and why, the
precision policy, the --set overrides and the git commit of the task and candidate files."""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from tritonwright import __version__

# What correctness is checked under (eval.precision's policies): said in every report so a reader comparing runs
# knows what precision was allowed on each side and what the baselines ran as.
PRECISION_POLICIES = {
    "fp32": "fp32 with TF32 off for PyTorch ops on both sides (reference, candidate, baselines); tolerances per "
            "output dtype: fp32 1e-4, fp16/bf16 1e-2, unless --atol/--rtol; error vs a float64 run of the "
            "reference at most K times the fp32 reference's own",
    "tf32": "tf32: the candidate may round fp32 operands to TF32; baselines run with TF32 matmuls and "
            "convolutions; tolerance 1e-2 (atol scaled by the output RMS)",
    "fp16": "fp16: the candidate may use fp16 inputs and weights; baselines run in fp16; tolerance 1e-2",
    "bf16": "bf16: the candidate may use bf16 inputs and weights; baselines run in bf16; tolerance 5e-2",
}
PRECISION_POLICY = PRECISION_POLICIES["fp32"]  # the default policy's text
GIT_TIMEOUT_S = 5.0  # git answers in milliseconds; a hung network filesystem must not hold the run's start
SMI_TIMEOUT_S = 10.0  # nvidia-smi takes ~1 s on a busy 8-GPU host


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(path: Path) -> str:
    """`<commit>` of the repository holding `path`, `+ uncommitted changes` when the file differs from it,
    or why there is none (not in git, untracked)."""
    path = path.resolve()
    folder = path if path.is_dir() else path.parent
    if not folder.is_dir():
        return "not found"
    head = _git(["rev-parse", "--short=12", "HEAD"], folder)
    if head is None:
        return "not in a git repository"
    if path.is_file() and _git(["ls-files", "--error-unmatch", path.name], folder) is None:
        return f"untracked (repository at {head})"
    dirty = _git(["status", "--porcelain", "--", str(path)], folder)
    return head + (" + uncommitted changes" if dirty else "")


def _gpu_and_driver() -> tuple[str, str]:
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=SMI_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return "unknown (nvidia-smi not found)", "unknown"
    first = (done.stdout.strip().splitlines() or [""])[0]
    name, _, driver = first.partition(",")
    return (name.strip() or "unknown"), (driver.strip() or "unknown")


def run_environment(device: str, gpu_label: str, gpu_note: str, overrides: dict[str, str],
                    sources: dict[str, Path | None], precision: str = "fp32") -> dict[str, str]:
    """The environment block of a run (flat strings: the reports print it as a table). `sources` names the
    files whose commit matters ("task", "candidate", "tasks folder"); None entries are skipped."""
    if device == "cuda":
        gpu, driver = _gpu_and_driver()
    else:
        gpu, driver = "none (CPU run: Triton interpreter, correctness only)", "none"
    env = {
        "device": device,
        "gpu": gpu,
        "driver": driver,
        "prompt GPU spec": f"{gpu_label} ({gpu_note})" if gpu_note else gpu_label,
        "torch": _version("torch"),
        "triton": _version("triton"),
        "python": platform.python_version(),
        "tritonwright": __version__,
        "precision": PRECISION_POLICIES.get(precision, precision),
        "--set": " ".join(f"{k}={v}" for k, v in overrides.items()) or "none (the task's own sizes)",
    }
    for what, path in sources.items():
        if path is not None:
            env[f"{what} commit"] = git_commit(path)
    return env
