"""What can go wrong between the pool and its workers, as exception types (the pool re-exports them)."""

from __future__ import annotations


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
