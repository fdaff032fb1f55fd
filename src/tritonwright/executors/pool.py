"""The scheduler shared by the local pool and the Ray executor: one slot per GPU, one job per slot at a time.

A slot is a long-lived worker on one device (a local process pinned with CUDA_VISIBLE_DEVICES, or a Ray
actor holding one GPU). Each slot has a thread here that starts its worker, health-checks the device, then
takes jobs from one shared queue. When a worker dies or hangs, its job goes back to the front of the queue
(preferring another slot) up to `max_retries` times, and the worker is restarted and checked again; a
device that fails its check, or whose worker keeps dying, is drained and reported. Nothing is lost: every
submitted job ends with its result or with an error that says why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from tritonwright import sandbox
from tritonwright.errors import UserInputError
from tritonwright.executors.jobs import Job, health_job, job_name

DEFAULT_MAX_RETRIES = 2  # a job whose worker died twice more is more likely the cause than the victim
DEFAULT_MAX_CRASHES = 3  # a worker that dies this often on one device: drain the device, keep the run going
_START_TIMEOUT_S = 120.0  # a worker's start is a Python start plus imports; seconds, minutes on a loaded host
_LOG_TAIL_LINES = 8  # lines of a dead worker's log quoted in the event


class WorkerLost(Exception):
    """The worker died or hung while running a job (the job itself may be fine)."""


class JobLost(RuntimeError):
    """A job whose workers died on every try."""


class PoolUnavailable(RuntimeError):
    """The pool cannot run jobs any more. Not the task's fault: a batch stops and stays resumable."""


class NoHealthyWorkers(PoolUnavailable):
    """Every device was drained: nothing can run the job."""


class PoolClosed(PoolUnavailable):
    """The pool was closed (Ctrl-C, or the run ended) before the job finished."""


class Slot(Protocol):
    name: str

    def start(self) -> dict[str, Any]: ...  # start the worker and return its health check ({"ok", "reason"})
    def run(self, job: Job, timeout_s: float) -> Any: ...  # raise WorkerLost when the worker fails
    def stop(self) -> None: ...  # from the slot's own thread (or once that thread has ended)
    def kill(self) -> None: ...  # from any thread: end the worker now; its thread then sees it lost
    def pid(self) -> int | None: ...


@dataclass
class PoolEvent:
    t: float  # seconds since the pool started
    slot: str
    kind: str  # started | crash | retry | lost | drained
    detail: str


@dataclass
class _Pending:
    job: Job
    future: Future[Any]
    tries: int = 0
    avoid: set[str] = field(default_factory=set)


@dataclass
class _SlotState:
    slot: Slot
    state: str = "starting"  # starting | idle | busy | restarting | drained | stopped
    jobs: int = 0
    crashes: int = 0
    busy_s: float = 0.0
    health: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    current: str = ""


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
        self._states = {s.name: _SlotState(s) for s in slots}
        self._pending: list[_Pending] = []
        self._cond = threading.Condition()
        self._closing = False
        self._t0 = time.monotonic()
        self.events: list[PoolEvent] = []
        self._on_event = on_event
        self._threads = [threading.Thread(target=self._loop, args=(st,), name=f"tritonwright-slot-{st.slot.name}",
                                          daemon=True) for st in self._states.values()]
        for t in self._threads:
            t.start()

    # --- the driver's side -----------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Slots not drained: how many jobs can run at once."""
        with self._cond:
            return sum(st.state not in {"drained", "stopped"} for st in self._states.values())

    def submit(self, job: Job) -> Future[Any]:
        fut: Future[Any] = Future()
        with self._cond:
            if self._closing:
                raise PoolClosed("the pool is closed")
            if self._all_drained():
                fut.set_exception(NoHealthyWorkers(self._drained_reasons()))
                return fut
            self._pending.append(_Pending(job, fut))
            self._cond.notify_all()
        return fut

    def call(self, job: Job) -> Any:
        return self.submit(job).result()

    def wait_ready(self, timeout_s: float = _START_TIMEOUT_S + 300) -> int:
        """Block until every slot has started (or been drained); returns how many are usable."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while any(st.state == "starting" for st in self._states.values()):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
            return sum(st.state in {"idle", "busy"} for st in self._states.values())

    def health(self) -> dict[str, Any] | None:
        """The health check of the first usable slot (device name and properties), once slots started."""
        self.wait_ready()
        with self._cond:
            return next((dict(st.health) for st in self._states.values() if st.state in {"idle", "busy"}), None)

    def pids(self) -> dict[str, int | None]:
        """Each slot's worker process id (tests kill one to check that nothing is lost)."""
        with self._cond:
            return {name: st.slot.pid() for name, st in self._states.items()}

    def busy(self) -> dict[str, str]:
        """slot -> label of the job it runs now."""
        with self._cond:
            return {name: st.current for name, st in self._states.items() if st.state == "busy"}

    def report(self) -> dict[str, Any]:
        """Plain data for the run store and the console: each slot's state, jobs, crashes, health."""
        with self._cond:
            return {
                "executor": self.kind,
                "slots": [{"name": name, "state": st.state, "jobs": st.jobs, "crashes": st.crashes,
                           "busy_s": round(st.busy_s, 3), "device": st.health.get("device", ""),
                           "health_s": st.health.get("seconds"), "reason": st.reason}
                          for name, st in self._states.items()],
                "events": [e.__dict__ for e in self.events],
            }

    def close(self) -> None:
        with self._cond:
            self._closing = True
            for p in self._pending:
                if not p.future.done():
                    p.future.set_exception(PoolClosed("the pool was closed before the job ran"))
            self._pending.clear()
            self._cond.notify_all()
        for st in self._states.values():
            st.slot.kill()  # a running job ends now; its thread sees the pool closing and stops
        for t in self._threads:
            t.join(timeout=30)
        for st in self._states.values():
            st.slot.stop()

    def __enter__(self) -> SlotPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one thread per slot ---------------------------------------------------------------------------

    def _event(self, slot: str, kind: str, detail: str) -> None:
        ev = PoolEvent(round(time.monotonic() - self._t0, 3), slot, kind, detail)
        with self._cond:
            self.events.append(ev)
        if self._on_event is not None:
            with contextlib.suppress(Exception):  # a display problem must never stop the pool
                self._on_event(ev)

    def _set(self, st: _SlotState, state: str) -> None:
        with self._cond:
            st.state = state
            self._cond.notify_all()

    def _loop(self, st: _SlotState) -> None:
        while True:
            with self._cond:
                if self._closing:
                    st.state = "stopped"
                    return
            if st.state in {"starting", "restarting"} and not self._start(st):
                return
            p = self._take(st)
            if p is None:
                return
            t = time.monotonic()
            try:
                result = st.slot.run(p.job, p.job.timeout_s)
            except WorkerLost as exc:
                st.busy_s += time.monotonic() - t
                if self._lost(st, p, str(exc)):
                    return
                continue
            except BaseException as exc:  # the job's own error (TaskError, ...): the caller's to handle
                self._finish(st, t)
                p.future.set_exception(exc)
                continue
            self._finish(st, t)
            p.future.set_result(result)

    def _start(self, st: _SlotState) -> bool:
        try:
            health = st.slot.start()
        except WorkerLost as exc:
            health = {"ok": False, "reason": str(exc)}
        except Exception as exc:  # e.g. Ray could not place the actor
            health = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
        st.health = health
        with self._cond:
            if self._closing:
                st.state = "stopped"
                self._cond.notify_all()
                return False
        if not health.get("ok"):
            self._drain(st, f"failed its health check: {health.get('reason') or 'no reason given'}")
            return False
        self._event(st.slot.name, "started", f"{health.get('device', '')} (health check {health.get('seconds')} s)")
        self._set(st, "idle")
        return True

    def _take(self, st: _SlotState) -> _Pending | None:
        with self._cond:
            while True:
                if self._closing:
                    st.state = "stopped"
                    return None
                for i, p in enumerate(self._pending):
                    # A retried job prefers a slot it has not died on, when one is free to take it now.
                    if st.slot.name not in p.avoid or not self._other_idle(st, p):
                        del self._pending[i]
                        st.state, st.current = "busy", job_name(p.job)
                        return p
                self._cond.wait(0.5)

    def _other_idle(self, st: _SlotState, p: _Pending) -> bool:
        return any(o is not st and o.state == "idle" and name not in p.avoid for name, o in self._states.items())

    def _finish(self, st: _SlotState, t: float) -> None:
        with self._cond:
            st.jobs += 1
            st.busy_s += time.monotonic() - t
            st.state, st.current = "idle", ""
            self._cond.notify_all()

    def _lost(self, st: _SlotState, p: _Pending, why: str) -> bool:
        """The worker died under `p`: retry the job, restart the worker (or drain). True: the slot ends."""
        st.slot.stop()
        label = job_name(p.job)
        with self._cond:
            st.crashes += 1
            st.current = ""
            p.tries += 1
            p.avoid.add(st.slot.name)
            closing = self._closing
            retry = p.tries <= self.max_retries and not closing
            if retry:
                self._pending.insert(0, p)
            st.state = "restarting"
            self._cond.notify_all()
        if closing:  # the worker was stopped by close(), not lost
            p.future.set_exception(PoolClosed(f"{label}: the pool was closed while the job ran"))
            return True
        self._event(st.slot.name, "crash", f"{label}: {why}")
        if retry:
            self._event(st.slot.name, "retry", f"{label}: try {p.tries + 1} of {self.max_retries + 1}")
        else:
            self._event(st.slot.name, "lost", f"{label}: its worker died on {p.tries} tries")
            p.future.set_exception(JobLost(f"{label}: the worker died on every try ({p.tries}); last: {why}"))
        if st.crashes >= self.max_crashes:
            self._drain(st, f"its worker died {st.crashes} times")
            return True
        return False

    def _drain(self, st: _SlotState, reason: str) -> None:
        st.slot.stop()
        with self._cond:
            st.state, st.reason = "drained", reason
            self._cond.notify_all()
        self._event(st.slot.name, "drained", reason)
        with self._cond:
            if self._all_drained():
                err = NoHealthyWorkers(self._drained_reasons())
                for p in self._pending:
                    if not p.future.done():
                        p.future.set_exception(err)
                self._pending.clear()

    def _all_drained(self) -> bool:
        return all(st.state in {"drained", "stopped"} for st in self._states.values())

    def _drained_reasons(self) -> str:
        return "no healthy worker left: " + "; ".join(f"{n} {st.reason}" for n, st in self._states.items())


# --- local processes ---------------------------------------------------------------------------------------


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
        return self.run(job, job.timeout_s + _START_TIMEOUT_S)  # the first job also waits for imports

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


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES entries (index i of --gpus is entry i)."""
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
