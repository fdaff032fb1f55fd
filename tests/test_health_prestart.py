"""A worker's health check and the evaluations' fork server start side by side, and the environment a child
is started with is never read half swapped while they do."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from tritonwright import sandbox
from tritonwright.executors import health, jobs


def test_the_fork_server_starts_while_the_health_check_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    monkeypatch.setattr(jobs, "_prestart", lambda device: started.set())

    def check(device: str) -> dict[str, object]:
        # Sequential (the server's start first, or after) would leave this waiting: the event is set only by
        # the server's start, which must be under way while the check runs.
        return {"ok": started.wait(10), "device": device}

    monkeypatch.setattr(health, "check", check)
    assert jobs.health_job("cuda").run() == {"ok": True, "device": "cuda"}


def test_a_copy_of_the_environment_never_sees_it_half_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITONWRIGHT_TEST_MARKER", "kept")
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            with sandbox.child_environment({"TRITON_INTERPRET": "0"}):
                pass
            time.sleep(0)  # let the reader take the lock between swaps

    swapper = threading.Thread(target=swap, daemon=True)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch often enough for an unguarded read to land mid-swap
    swapper.start()
    try:
        copies = [sandbox.scrubbed_env() for _ in range(300)]
    finally:
        stop.set()
        swapper.join()
        sys.setswitchinterval(interval)
    assert all(c.get("TRITONWRIGHT_TEST_MARKER") == "kept" for c in copies)
    assert os.environ["TRITONWRIGHT_TEST_MARKER"] == "kept"
