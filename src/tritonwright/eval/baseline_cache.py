"""On-disk cache of reference timings (eager and torch.compile), keyed by everything that changes them."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

_VERSION = 1  # bump when the timing method changes: old entries then stop matching


def cache_root(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    env = os.environ.get("TRITONWRIGHT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "tritonwright"


def key(task_hash: str, env_key: str, compile_mode: str, settings: dict[str, Any]) -> str:
    """Task source, GPU/driver/CUDA/torch/triton, compile mode and timing settings (not the input seed: the
    time does not depend on the input values, and seeds are fresh per evaluation)."""
    blob = json.dumps([_VERSION, task_hash, env_key, compile_mode, settings], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load(k: str, cache_dir: str | None, folder: str = "baselines") -> dict[str, Any] | None:
    path = cache_root(cache_dir) / folder / f"{k}.json"
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):  # absent or half-written by a killed run: measure again
        return None
    return value if isinstance(value, dict) else None  # not an entry of ours: measure again


def store(k: str, value: dict[str, Any], cache_dir: str | None, folder: str = "baselines") -> None:
    """`folder`: baselines, or another per-GPU measurement kept the same way (tritonwright.ceilings)."""
    where = cache_root(cache_dir) / folder
    where.mkdir(parents=True, exist_ok=True)
    tmp = where / f".{k}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(value, allow_nan=False))
    os.replace(tmp, where / f"{k}.json")  # atomic: readers never see a partial file


# The module Inductor generated for a task's compiled baseline (inductor_seed.capture.first_call_captured), by
# task hash, for the Inductor seed made later in this process (a worker): it converts that module instead of
# compiling the Model again. Kept with the baseline's entry on disk too, so a run whose baselines come from the
# cache still has it. Only this process's GPU and versions ever fill it (a worker serves one GPU).
_CAPTURES: dict[str, dict[str, Any]] = {}
_CAPTURES_LOCK = threading.Lock()  # a batch's worker threads share the process


def remember_capture(task_hash: str, captured: dict[str, Any]) -> None:
    with _CAPTURES_LOCK:
        _CAPTURES[task_hash] = captured


def capture_for(task_hash: str) -> dict[str, Any] | None:
    with _CAPTURES_LOCK:
        return _CAPTURES.get(task_hash)
