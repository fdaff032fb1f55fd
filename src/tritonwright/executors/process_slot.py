"""A slot on this machine: a worker process in its own process group (so a hang is killed with its children),
pinned to its device by its environment, talking to the pool over a socket pair."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from tritonwright import sandbox
from tritonwright.executors.faults import WorkerLost
from tritonwright.executors.jobs import Job, health_job

START_TIMEOUT_S = 120.0  # a worker's start is a Python start plus imports; seconds, minutes on a loaded host
_LOG_TAIL_LINES = 8  # lines of a dead worker's log quoted in the event


class ProcessSlot:
    """A worker process on this machine, in its own process group (so a hang is killed with its children)."""

    def __init__(self, name: str, device: str, env: dict[str, str], log_dir: Path | None = None) -> None:
        self.name, self.device, self.env = name, device, env
        self.log_dir = log_dir
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._log: Path | None = None
        self._pid: int | None = None  # read by kill() from other threads; only this slot's thread sets it
        self._seq = 0

    def pid(self) -> int | None:
        return self._pid

    def kill(self) -> None:
        pid = self._pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def start(self) -> dict[str, Any]:
        self.stop()
        parent, child = socket.socketpair()
        log_dir = self.log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self._log = log_dir / f"worker-{self.name}.log"
        env = sandbox.scrubbed_env(extra=self.env)  # the worker never calls the LLM: it gets no keys either
        with open(self._log, "ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tritonwright.executors.worker", str(child.fileno())],
                pass_fds=(child.fileno(),), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
        self._pid = self._proc.pid
        child.close()
        self._conn = Connection(parent.detach())
        job = health_job(self.device)
        # The first job also waits for the worker's imports.
        health: dict[str, Any] = self.run(job, job.timeout_s + START_TIMEOUT_S)
        return health

    def run(self, job: Job, timeout_s: float) -> Any:
        if self._conn is None or self._proc is None:
            raise WorkerLost("the worker is not running")
        self._seq += 1
        try:
            self._conn.send((self._seq, job))
        except (BrokenPipeError, ConnectionResetError, OSError) as exc:
            raise WorkerLost(self._death(f"could not send the job ({exc})")) from None
        if not wait([self._conn], timeout=timeout_s):
            self.stop()
            raise WorkerLost(f"no answer after {timeout_s:g} s (killed)")
        try:
            status, seq, value = self._conn.recv()
        except (EOFError, OSError, ConnectionResetError):
            raise WorkerLost(self._death("the worker died")) from None
        if seq != self._seq:
            raise WorkerLost(f"answer to job {seq} while waiting for {self._seq}")
        if status == "ok":
            return value
        raise value

    def _death(self, what: str) -> str:
        code = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self._proc.wait(timeout=5)
        how = (f"killed by signal {signal.Signals(-code).name}" if code is not None and code < 0 and
               -code in signal.Signals._value2member_map_ else f"exit code {code}")
        tail = ""
        if self._log is not None:
            try:
                lines = self._log.read_text(errors="replace").splitlines()[-_LOG_TAIL_LINES:]
                tail = (" | " + " | ".join(lines)) if lines else ""
            except OSError:
                pass
        return f"{what} ({how}){tail}"

    def stop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            # The whole group: the worker and any evaluation children it still has.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            self._proc, self._pid = None, None
