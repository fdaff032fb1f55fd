"""The local pool on real GPUs: one worker per GPU, each pinned to its own device and health-checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonwright.candidate import read_candidate
from tritonwright.eval.types import EvalConfig
from tritonwright.executors.jobs import evaluate_job, health_job
from tritonwright.executors.pool import local_pool, visible_gpus

pytestmark = pytest.mark.gpu
ROOT = Path(__file__).parent.parent


def test_one_pinned_worker_per_gpu_and_evaluations_on_each():
    from tritonwright.task import load_task

    gpus = visible_gpus()
    with local_pool("cuda") as pool:
        assert pool.wait_ready() == len(gpus)
        slots = pool.report()["slots"]
        assert [s["name"] for s in slots] == [f"gpu{i}" for i in range(len(gpus))]
        assert all(s["state"] == "idle" and s["device"] for s in slots)
        # Each worker sees exactly its own GPU.
        seen = [pool.call(health_job("cuda"))["visible"] for _ in range(len(gpus))]
        assert all(v in gpus for v in seen)
        task = load_task(ROOT / "examples/elu/task.py", {"batch_size": "16", "dim": "4096"})
        cand = read_candidate(ROOT / "examples/elu/candidate.py")
        futures = [pool.submit(evaluate_job(task, [cand], EvalConfig(device="cuda", baselines=False), f"e{i}"))
                   for i in range(2 * len(gpus))]
        results = [f.result()[0] for f in futures]
        report = pool.report()
    assert all(r.ok and r.timing is not None for r in results), [r.reason for r in results]
    assert sum(s["jobs"] for s in report["slots"]) == 2 * len(gpus) + len(gpus)
    if len(gpus) > 1:
        assert all(s["jobs"] >= 1 for s in report["slots"])
