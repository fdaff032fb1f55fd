"""One slot's life, on its own thread: start the worker and health-check the device, then take jobs from the
queue one at a time. A worker that dies or hangs under a job is counted, its job retried (up to
`max_retries`, preferring another slot) and the worker restarted and checked again; a device that fails its
check, or whose worker dies `max_crashes` times, is drained."""

from __future__ import annotations

import threading
import time

from tritonwright.executors.faults import JobLost, NoHealthyWorkers, PoolClosed, WorkerLost
from tritonwright.executors.jobs import job_name
from tritonwright.executors.scheduling import JobQueue, Pending
from tritonwright.executors.slot_board import SlotBoard, SlotState


class SlotRunner:
    """The thread of one slot (started by the pool)."""

    def __init__(self, st: SlotState, board: SlotBoard, queue: JobQueue, max_retries: int,
                 max_crashes: int) -> None:
        self.st, self.board, self.queue = st, board, queue
        self.max_retries, self.max_crashes = max_retries, max_crashes
        self.thread = threading.Thread(target=self.loop, name=f"tritonwright-slot-{st.slot.name}", daemon=True)

    def loop(self) -> None:
        st = self.st
        while True:
            with self.board.cond:
                if self.queue.closing:
                    st.state = "stopped"
                    return
            if st.state in {"starting", "restarting"} and not self._start():
                return
            p = self.queue.take(st)
            if p is None:
                return
            t = time.monotonic()
            try:
                result = st.slot.run(p.job, p.job.timeout_s)
            except WorkerLost as exc:
                st.busy_s += time.monotonic() - t
                if self._lost(p, str(exc)):
                    return
                continue
            except BaseException as exc:  # the job's own error (TaskError, ...): the caller's to handle
                self._finish(t)
                p.future.set_exception(exc)
                continue
            self._finish(t)
            p.future.set_result(result)

    def _start(self) -> bool:
        """Start the worker and check the device; False: the slot ends (closing, or drained)."""
        st = self.st
        try:
            health = st.slot.start()
        except WorkerLost as exc:
            health = {"ok": False, "reason": str(exc)}
        except Exception as exc:  # e.g. Ray could not place the actor
            health = {"ok": False, "reason": f"{type(exc).__name__}: {exc}"}
        st.health = health
        with self.board.cond:
            if self.queue.closing:
                st.state = "stopped"
                self.board.cond.notify_all()
                return False
        if not health.get("ok"):
            self._drain(f"failed its health check: {health.get('reason') or 'no reason given'}")
            return False
        self.board.event(st.slot.name, "started",
                         f"{health.get('device', '')} (health check {health.get('seconds')} s)")
        self.board.set_state(st, "idle")
        return True

    def _finish(self, t: float) -> None:
        with self.board.cond:
            self.st.jobs += 1
            self.st.busy_s += time.monotonic() - t
            self.st.state, self.st.current = "idle", ""
            self.board.cond.notify_all()

    def _lost(self, p: Pending, why: str) -> bool:
        """The worker died under `p`: retry the job, restart the worker (or drain). True: the slot ends."""
        st = self.st
        st.slot.stop()
        label = job_name(p.job)
        with self.board.cond:
            st.crashes += 1
            st.current = ""
            p.tries += 1
            p.avoid.add(st.slot.name)
            closing = self.queue.closing
            retry = p.tries <= self.max_retries and not closing
            if retry:
                self.queue.requeue(p)
            st.state = "restarting"
            self.board.cond.notify_all()
        if closing:  # the worker was stopped by close(), not lost
            p.future.set_exception(PoolClosed(f"{label}: the pool was closed while the job ran"))
            return True
        self.board.event(st.slot.name, "crash", f"{label}: {why}")
        if retry:
            self.board.event(st.slot.name, "retry", f"{label}: try {p.tries + 1} of {self.max_retries + 1}")
        else:
            self.board.event(st.slot.name, "lost", f"{label}: its worker died on {p.tries} tries")
            p.future.set_exception(JobLost(f"{label}: the worker died on every try ({p.tries}); last: {why}"))
        if st.crashes >= self.max_crashes:
            self._drain(f"its worker died {st.crashes} times")
            return True
        return False

    def _drain(self, reason: str) -> None:
        """Take the slot out for good; when it was the last one, every waiting job fails."""
        st = self.st
        st.slot.stop()
        with self.board.cond:
            st.state, st.reason = "drained", reason
            self.board.cond.notify_all()
        self.board.event(st.slot.name, "drained", reason)
        with self.board.cond:
            if self.board.all_drained():
                err = NoHealthyWorkers(self.board.drained_reasons())
                self.queue.fail_all(lambda: err)
