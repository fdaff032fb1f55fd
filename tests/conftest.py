"""Shared test setup: `gpu` tests run only where CUDA is visible."""

from __future__ import annotations

import pytest


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:  # torch missing or broken: treat as no GPU
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def step_recorder(tmp_path):  # type: ignore[no-untyped-def]
    """A StepRecorder over a fresh store with one started task "t" (the pipeline's step tests share it)."""
    from tritonwright.pipeline.steps import StepRecorder, TaskState
    from tritonwright.store import RunStore

    store = RunStore(tmp_path)
    run_id = store.create_run("optimize", {})
    store.start_task(run_id, "t", "t.py", "h", 1, "single")
    return StepRecorder(store, run_id, "t", TaskState())
