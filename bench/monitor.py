"""Run one job as a child process with a named timeout and measure what it cost: wall time, peak host RSS
(the child and every process it waited for, from wait4) and peak GPU memory (nvidia-smi polled meanwhile).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GPU_POLL_MS = 200  # nvidia-smi's loop period: finer polling costs CPU and still misses sub-ms peaks
LOG_TAIL_LINES = 20  # enough of a failed job's log for its traceback's last frames and message
_KILL_GRACE_S = 5.0  # SIGTERM first so ncu and the harness can stop their own children, then SIGKILL


@dataclass
class JobRun:
    status: str  # ok | failed | timeout
    reason: str
    rc: int | None
    wall_s: float
    peak_rss_mib: float | None  # largest RSS of the job or any process it waited for
    gpu_peak_mib: float | None  # highest memory.used seen while the job ran, minus what was used before it
    gpu_base_mib: float | None = None  # memory.used when the job started (other processes, driver)
    gpu_note: str = ""
    log_tail: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class GpuMemoryPoller:
    """`nvidia-smi --query-gpu=memory.used -lms N` in the background; keeps the first and the highest value."""

    def __init__(self, period_ms: int = GPU_POLL_MS) -> None:
        self.first: float | None = None
        self.peak: float | None = None
        self.note = ""
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._period_ms = period_ms

    def __enter__(self) -> GpuMemoryPoller:
        cmd = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", f"--loop-ms={self._period_ms}"]
        try:
            self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except FileNotFoundError:
            self.note = "nvidia-smi not found: GPU memory not measured"
            return self
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                used = float(line.strip())
            except ValueError:  # "[N/A]" or a warning line: not a sample
                continue
            if self.first is None:
                self.first = used
            self.peak = used if self.peak is None else max(self.peak, used)

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(5)
        if self._thread is not None:
            self._thread.join(5)
        if self._proc is not None and self.peak is None:
            self.note = "nvidia-smi gave no samples"

    @property
    def delta_mib(self) -> float | None:
        if self.peak is None or self.first is None:
            return None
        return self.peak - self.first


def _tail(path: Path, n: int = LOG_TAIL_LINES) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def _kill_group(proc: subprocess.Popen[bytes], fired: threading.Event) -> None:
    fired.set()
    for sig, wait_s in ((signal.SIGTERM, _KILL_GRACE_S), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        if proc.poll() is not None:
            return


def run_job(cmd: list[str], timeout_s: float, log_path: Path, env: dict[str, str] | None = None,
            cwd: str | None = None, poll_gpu: bool = True) -> JobRun:
    """Run `cmd` in its own process group, output to `log_path`, killed after `timeout_s` seconds."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    poller = GpuMemoryPoller() if poll_gpu else None
    fired = threading.Event()
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        if poller is not None:
            poller.__enter__()
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    start_new_session=True)
            timer = threading.Timer(timeout_s, _kill_group, args=(proc, fired))
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if poller is not None:
                poller.__exit__(None, None, None)
    wall = round(time.monotonic() - t0, 3)
    rc = proc.returncode
    tail = _tail(log_path)
    if fired.is_set():
        state, reason = "timeout", f"killed after {timeout_s:g} s (job timeout)"
    elif rc == 0:
        state, reason = "ok", ""
    else:
        last = next((line for line in reversed(tail) if line.strip()), "")
        how = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        state, reason = "failed", f"{how}: {last[:300]}"
    return JobRun(status=state, reason=reason, rc=rc, wall_s=wall, peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
                  gpu_peak_mib=None if poller is None else poller.delta_mib,
                  gpu_base_mib=None if poller is None else poller.first,
                  gpu_note="" if poller is None else poller.note, log_tail=tail)
