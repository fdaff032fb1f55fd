"""A long-lived local worker: one per GPU, started by the pool with `CUDA_VISIBLE_DEVICES` pinned.

It reads jobs from its socket one at a time and answers each with ("ok", id, result) or ("error", id,
exception). Jobs are typed (executors.jobs) and run by their own type's `run()`; they arrive pickled, which is
safe here: the driver that writes them is trusted, and no candidate code runs in this process (evaluations
start their own children, which talk to it only in eval.protocol's plain data). One job at a time is the point: a timing or an ncu profile never shares the GPU with other
work. The worker itself never touches the GPU; each evaluation starts its own isolated children.

Run as `python -m tritonwright.executors.worker FD` (FD: the inherited socket's file descriptor).
"""

from __future__ import annotations

import contextlib
import ctypes
import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the driver dies, so a killed batch leaves no worker behind (best effort)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def _error_payload(exc: BaseException) -> BaseException:
    """The exception itself when it pickles (TaskError, UserInputError, ...), else a RuntimeError with its
    text and traceback so the driver still sees what happened."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-3000:]
        return RuntimeError(f"{type(exc).__name__}: {exc}\n{tb}")


def serve(conn: Connection) -> None:
    from tritonwright.executors.jobs import run_job

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the driver is gone
        if msg is None:
            return  # orderly stop
        job_id, job = msg
        try:
            reply = ("ok", job_id, run_job(job))
        except BaseException as exc:  # every failure goes back to the driver, which decides what it means
            reply = ("error", job_id, _error_payload(exc))
        try:
            conn.send(reply)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            return
        except Exception as exc:  # a result that does not pickle is the job's failure, not the worker's
            conn.send(("error", job_id, RuntimeError(f"job result could not be sent back: {exc}")))


def main(argv: list[str]) -> int:
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle; it stops the workers
    serve(Connection(int(argv[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
