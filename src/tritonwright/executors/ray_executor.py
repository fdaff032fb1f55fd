"""The Ray executor: one Ray actor per GPU of the cluster (`num_gpus=1`), driven by the same scheduler as
the local pool. Jobs and results are plain data; the driver keeps the run store (its only writer), so a
cluster run resumes like a local one. Ray is optional: `pip install 'tritonwright[ray]'`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tritonwright.errors import UserInputError
from tritonwright.executors.jobs import Job, health_job, run_job
from tritonwright.executors.pool import DEFAULT_MAX_RETRIES, PoolEvent, SlotPool, WorkerLost

_START_TIMEOUT_S = 300.0  # placing an actor may wait for a node to free a GPU or for the runtime env upload
_RAY_MISSING = ("--executor ray needs Ray, an optional extra: pip install 'tritonwright[ray]' "
                "(or pip install 'ray>=2.9')")


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserInputError(_RAY_MISSING) from None
    return ray


class _Worker:
    """The actor's body: the same `run_job` as a local worker (each job runs by its own type), in a Ray worker
    process."""

    def __init__(self) -> None:
        _detach_main()

    def hello(self) -> dict[str, Any]:
        import ray

        return {"pid": os.getpid(), "node": ray.util.get_node_ip_address(),
                "visible": os.environ.get("CUDA_VISIBLE_DEVICES", "")}

    def run(self, job: Job) -> Any:
        return run_job(job)


def _detach_main() -> None:
    """Evaluation children are spawned, and a spawned child first re-runs its parent's main script: in an
    actor that is Ray's worker script, which imports Ray in every child (seconds each). The actor's process
    needs that script no more once it runs, so children are told of no main script."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if main is not None and getattr(spec, "name", None) is None and \
            str(getattr(main, "__file__", "")).endswith("default_worker.py"):
        with contextlib.suppress(AttributeError):
            del main.__file__


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = _ray().remote(_Worker)
    return _ACTOR


class RaySlot:
    """One actor holding one GPU (or one CPU for interpreter runs); restarted as a new actor after a death."""

    def __init__(self, name: str, device: str, cpus: int = 1) -> None:
        self.name, self.device, self.cpus = name, device, cpus
        self._actor: Any = None
        self._pid: int | None = None
        self.where: dict[str, Any] = {}

    def pid(self) -> int | None:
        return self._pid

    def start(self) -> dict[str, Any]:
        ray = _ray()
        self.stop()
        gpus = 1 if self.device == "cuda" else 0  # one GPU per actor: its jobs never share the GPU
        self._actor = _actor_class().options(num_gpus=gpus, num_cpus=self.cpus, max_restarts=0,
                                             max_task_retries=0).remote()
        try:
            self.where = ray.get(self._actor.hello.remote(), timeout=_START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise WorkerLost(f"the actor was not placed within {_START_TIMEOUT_S:g} s "
                             "(is a GPU free in the cluster?)") from None
        except ray.exceptions.RayActorError as exc:
            raise WorkerLost(f"the actor died while starting: {str(exc).splitlines()[0]}") from None
        self._pid = self.where.get("pid")
        job = health_job(self.device)
        health = dict(self.run(job, job.timeout_s))
        health["device"] = f"{health.get('device', '')} on {self.where.get('node')}".strip()
        return health

    def run(self, job: Job, timeout_s: float) -> Any:
        ray = _ray()
        if self._actor is None:
            raise WorkerLost("the actor is not running")
        ref = self._actor.run.remote(job)
        try:
            return ray.get(ref, timeout=timeout_s)
        except ray.exceptions.GetTimeoutError:
            self.stop()
            raise WorkerLost(f"no answer after {timeout_s:g} s (actor killed)") from None
        except ray.exceptions.RayActorError as exc:
            raise WorkerLost(f"the actor died: {str(exc).splitlines()[0]}") from None
        except ray.exceptions.RayTaskError as exc:  # the job's own exception, raised again here
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException):
                raise cause from None
            raise RuntimeError(str(exc)) from None

    def kill(self) -> None:
        actor = self._actor
        if actor is not None:
            with contextlib.suppress(Exception):  # already gone
                _ray().kill(actor, no_restart=True)

    def stop(self) -> None:
        if self._actor is not None:
            with contextlib.suppress(Exception):  # already gone
                _ray().kill(self._actor, no_restart=True)
            self._actor, self._pid = None, None


def ray_pool(device: str, address: str | None = None, workers: int | None = None,
             on_event: Callable[[PoolEvent], None] | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
             log_dir: Path | None = None) -> SlotPool:
    """Connect to (or start) Ray and put one actor on every GPU it has (device cuda), or `workers` actors
    for interpreter runs (device cpu)."""
    ray = _ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False,
                                  "include_dashboard": False}
        if address:
            # Joining a cluster: ship this package so nodes run the same code as the driver.
            import tritonwright

            kwargs["runtime_env"] = {"py_modules": [str(Path(tritonwright.__file__).parent)]}
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise UserInputError(f"--ray-address {address}: cannot connect to Ray ({exc})") from None
    resources = ray.cluster_resources()
    if device == "auto":  # the driver may have no GPU (a laptop, a head node): the cluster decides
        device = "cuda" if resources.get("GPU", 0) >= 1 else "cpu"
    if device == "cuda":
        n = int(resources.get("GPU", 0))
        if workers is not None:
            n = min(n, workers)
        if n < 1:
            raise UserInputError("the Ray cluster has no GPU (use --device cpu for interpreter runs)")
        # Each GPU's worker gets its share of the CPUs: compiles and the host side of evaluations need cores,
        # and Ray limits an actor's threads (OMP_NUM_THREADS) to the CPUs it reserved.
        cpus = max(1, int(resources.get("CPU", 1)) // max(1, int(resources.get("GPU", 1))))
        slots = [RaySlot(f"ray-gpu{i}", "cuda", cpus) for i in range(n)]
    else:
        n = 1 if workers is None else workers
        if n < 1:
            raise UserInputError(f"--workers {n}: at least 1")
        if n > int(resources.get("CPU", 0)):
            raise UserInputError(f"--workers {n}: the Ray cluster has {int(resources.get('CPU', 0))} CPUs")
        slots = [RaySlot(f"ray-cpu{i}", "cpu") for i in range(n)]
    return SlotPool([*slots], max_retries=max_retries, on_event=on_event, kind="ray", device=device)  # list[Slot]
