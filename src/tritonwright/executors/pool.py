"""The scheduler shared by the local pool and the Ray executor: one slot per GPU, one job per slot at a time.

A slot is a long-lived worker on one device (a local process pinned with CUDA_VISIBLE_DEVICES, or a Ray
actor holding one GPU). Each slot has a thread here that starts its worker, health-checks the device, then
takes jobs from one shared queue. When a worker dies or hangs, its job goes back to the front of the queue
(preferring another slot) up to `max_retries` times, and the worker is restarted and checked again; a
device that fails its check, or whose worker keeps dying, is drained and reported. Nothing is lost: every
submitted job ends with its result or with an error that says why.

`SlotPool` is the driver's side (submit, wait, report, close); the parts have their own modules: the queue
(scheduling.py), the slots' states and events (slot_board.py), one slot's life on its thread (slot_runner.py),
the local worker process (process_slot.py) and the errors (faults.py), re-exported here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tritonwright.errors import UserInputError
from tritonwright.executors.faults import JobLost, NoHealthyWorkers, PoolClosed, PoolUnavailable, WorkerLost
from tritonwright.executors.jobs import Job
from tritonwright.executors.process_slot import START_TIMEOUT_S, ProcessSlot
from tritonwright.executors.scheduling import JobQueue
from tritonwright.executors.slot_board import GONE, USABLE, PoolEvent, Slot, SlotBoard
from tritonwright.executors.slot_runner import SlotRunner

__all__ = ["DEFAULT_MAX_CRASHES", "DEFAULT_MAX_RETRIES", "JobLost", "NoHealthyWorkers", "PoolClosed", "PoolEvent",
           "PoolUnavailable", "ProcessSlot", "Slot", "SlotPool", "WorkerLost", "local_pool", "parse_gpus",
           "visible_gpus"]

DEFAULT_MAX_RETRIES = 2  # a job whose worker died twice more is more likely the cause than the victim
DEFAULT_MAX_CRASHES = 3  # a worker that dies this often on one device: drain the device, keep the run going
_READY_SLACK_S = 300.0  # wait_ready's default beyond a worker's start: the health check's compile, a busy host


class SlotPool:
    """Jobs in, results out, over a fixed set of slots. `call` blocks; `submit` returns a Future."""

    def __init__(self, slots: list[Slot], max_retries: int = DEFAULT_MAX_RETRIES,
                 max_crashes: int = DEFAULT_MAX_CRASHES, on_event: Callable[[PoolEvent], None] | None = None,
                 kind: str = "local", device: str = "cuda") -> None:
        if not slots:
            raise ValueError("a pool needs at least one slot")
        names = [s.name for s in slots]
        if len(set(names)) != len(names):
            raise ValueError(f"slot names must be unique: {names}")
        self.kind, self.device = kind, device  # device: where the jobs run (cuda | cpu), maybe not here
        self.max_retries, self.max_crashes = max_retries, max_crashes
        self._cond = threading.Condition()  # one lock for the queue and every slot's state
        self._board = SlotBoard(slots, self._cond, on_event)
        self._queue = JobQueue(self._cond, self._board)
        self._runners = [SlotRunner(st, self._board, self._queue, max_retries, max_crashes)
                         for st in self._board.states.values()]
        for r in self._runners:
            r.thread.start()

    @property
    def events(self) -> list[PoolEvent]:
        """Worker starts, crashes, retries and drained devices, in order."""
        return self._board.events

    @property
    def size(self) -> int:
        """Slots not drained: how many jobs can run at once."""
        with self._cond:
            return sum(st.state not in GONE for st in self._board.states.values())

    def submit(self, job: Job) -> Future[Any]:
        return self._queue.submit(job)

    def call(self, job: Job) -> Any:
        return self.submit(job).result()

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S + _READY_SLACK_S) -> int:
        """Block until every slot has started (or been drained); returns how many are usable."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._board.starting():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            return self._board.usable()

    def health(self) -> dict[str, Any] | None:
        """The health check of the first usable slot (device name and properties), once slots started."""
        self.wait_ready()
        with self._cond:
            return next((dict(st.health) for st in self._board.states.values() if st.state in USABLE), None)

    def pids(self) -> dict[str, int | None]:
        """Each slot's worker process id (tests kill one to check that nothing is lost)."""
        with self._cond:
            return {name: st.slot.pid() for name, st in self._board.states.items()}

    def busy(self) -> dict[str, str]:
        """slot -> label of the job it runs now."""
        with self._cond:
            return {name: st.current for name, st in self._board.states.items() if st.state == "busy"}

    def report(self) -> dict[str, Any]:
        """Plain data for the run store and the console: each slot's state, jobs, crashes, health."""
        return self._board.report(self.kind)

    def close(self) -> None:
        self._queue.close()
        for st in self._board.states.values():
            st.slot.kill()  # a running job ends now; its thread sees the pool closing and stops
        for r in self._runners:
            r.thread.join(timeout=30)
        for st in self._board.states.values():
            st.slot.stop()

    def __enter__(self) -> SlotPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (index i of --gpus is entry i)."""
    from tritonwright.eval.cuda_probe import cuda_devices

    count = cuda_devices()  # without importing torch where certain: the driver needs none (2-3 s of a start)
    if count is None:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        entries = [e.strip() for e in env.split(",") if e.strip()]
        return entries[:count] if count else []
    return [str(i) for i in range(count)]


def parse_gpus(spec: str | None, visible: list[str]) -> list[int]:
    """--gpus 0,1,3 -> [0, 1, 3] (indexes into the visible GPUs); None or 'all' -> every visible GPU."""
    if not visible:
        raise UserInputError("no CUDA GPU is visible (use --device cpu for the interpreter)")
    if spec is None or spec.strip().lower() == "all":
        return list(range(len(visible)))
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part.isdigit():
            raise UserInputError(f"--gpus {spec}: expected GPU indexes like 0,1,3 or 'all'")
        i = int(part)
        if i >= len(visible):
            raise UserInputError(f"--gpus {spec}: GPU {i} is not visible (visible: "
                                 f"{', '.join(str(k) for k in range(len(visible)))})")
        if i not in out:
            out.append(i)
    if not out:
        raise UserInputError(f"--gpus {spec}: no GPU given")
    return out


def local_pool(device: str, gpus: str | None = None, workers: int | None = None, log_dir: Path | None = None,
               on_event: Callable[[PoolEvent], None] | None = None, max_retries: int = DEFAULT_MAX_RETRIES
               ) -> SlotPool:
    """One worker per chosen GPU (device cuda), or `workers` interpreter workers (device cpu)."""
    if device == "cuda":
        if workers is not None:
            raise UserInputError("--workers is for CPU runs; on GPUs there is one worker per GPU (pick them "
                                 "with --gpus)")
        visible = visible_gpus()
        slots: list[Slot] = [ProcessSlot(f"gpu{i}", "cuda", {"CUDA_VISIBLE_DEVICES": visible[i]}, log_dir)
                             for i in parse_gpus(gpus, visible)]
    else:
        if gpus is not None:
            raise UserInputError("--gpus needs --device cuda (this is a CPU run; use --workers N)")
        n = 1 if workers is None else workers
        if n < 1:
            raise UserInputError(f"--workers {n}: at least 1")
        # A CPU run must not take GPU memory: its workers see no GPU.
        slots = [ProcessSlot(f"cpu{i}", "cpu", {"CUDA_VISIBLE_DEVICES": ""}, log_dir) for i in range(n)]
    return SlotPool(slots, max_retries=max_retries, on_event=on_event, kind="local", device=device)
