"""The pool's queue: jobs wait in order for a slot; a retried job goes back to the front and prefers a slot it
has not died on. Closing the queue fails every waiting job; so does the last slot being drained."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from tritonwright.executors.faults import NoHealthyWorkers, PoolClosed
from tritonwright.executors.jobs import Job, job_name
from tritonwright.executors.slot_board import SlotBoard, SlotState

_WAIT_S = 0.5  # a waiting slot re-checks the queue this often even without a notify (closing, avoid rules)


@dataclass
class Pending:
    job: Job
    future: Future[Any]
    tries: int = 0
    avoid: set[str] = field(default_factory=set)  # slots the job's worker died on


class JobQueue:
    """Jobs waiting for a slot, under the pool's condition (shared with the slot board)."""

    def __init__(self, cond: threading.Condition, board: SlotBoard) -> None:
        self.cond, self.board = cond, board
        self.pending: list[Pending] = []
        self.closing = False

    def submit(self, job: Job) -> Future[Any]:
        """Queue a job; its future fails at once when no slot is left to run it."""
        fut: Future[Any] = Future()
        with self.cond:
            if self.closing:
                raise PoolClosed("the pool is closed")
            if self.board.all_drained():
                fut.set_exception(NoHealthyWorkers(self.board.drained_reasons()))
                return fut
            self.pending.append(Pending(job, fut))
            self.cond.notify_all()
        return fut

    def take(self, st: SlotState) -> Pending | None:
        """The next job for slot `st` (which becomes busy with it); None once the queue is closing."""
        with self.cond:
            while True:
                if self.closing:
                    st.state = "stopped"
                    return None
                for i, p in enumerate(self.pending):
                    # A retried job prefers a slot it has not died on, when one is free to take it now.
                    if st.slot.name not in p.avoid or not self.board.other_idle(st, p.avoid):
                        del self.pending[i]
                        st.state, st.current = "busy", job_name(p.job)
                        return p
                self.cond.wait(_WAIT_S)

    def requeue(self, p: Pending) -> None:
        """A job to try again goes first (holding the condition)."""
        self.pending.insert(0, p)

    def fail_all(self, error: Callable[[], BaseException]) -> None:
        """Every waiting job ends with the exception `error` gives (holding the condition)."""
        for p in self.pending:
            if not p.future.done():
                p.future.set_exception(error())
        self.pending.clear()

    def close(self) -> None:
        """No more jobs: waiting ones fail with PoolClosed, and every slot thread is woken to stop."""
        with self.cond:
            self.closing = True
            self.fail_all(lambda: PoolClosed("the pool was closed before the job ran"))
            self.cond.notify_all()
