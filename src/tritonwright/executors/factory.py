"""Open the executor a command asked for: the local pool (default) or Ray."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tritonwright.errors import UserInputError
from tritonwright.executors.pool import PoolEvent, SlotPool, local_pool

EXECUTORS = ("local", "ray")


def open_pool(executor: str, device: str, gpus: str | None = None, workers: int | None = None,
              ray_address: str | None = None, log_dir: Path | None = None,
              on_event: Callable[[PoolEvent], None] | None = None) -> SlotPool:
    if executor not in EXECUTORS:
        raise UserInputError(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    if ray_address and executor != "ray":
        raise UserInputError("--ray-address needs --executor ray")
    if executor == "local":
        return local_pool(device, gpus, workers, log_dir, on_event)
    if gpus is not None:
        raise UserInputError("--gpus picks local GPUs; with --executor ray every GPU of the cluster gets one "
                             "worker (cap them with --workers)")
    from tritonwright.executors.ray_executor import ray_pool

    return ray_pool(device, ray_address, workers, on_event, log_dir=log_dir)
