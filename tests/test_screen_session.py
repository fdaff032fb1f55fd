"""The screening session kept open across screen_many calls (eval.runner._Screening), on fake children: the
phases of one search share it; another task or settings, an evaluation, a crash, idleness or exit close it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tritonwright.candidate import Candidate
from tritonwright.eval import protocol as pr
from tritonwright.eval import runner
from tritonwright.eval.types import Environment, EvalConfig, Status, TimingStats
from tritonwright.task import load_task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
STATS = TimingStats(median_ms=1.0, q1_ms=0.9, q3_ms=1.1, min_ms=0.8, mean_ms=1.0, n=10, method="cuda_events")
ENV = Environment(python="3.12", torch="2.11", triton="3.6", platform="linux", device="cuda", gpu="H200",
                  sm_count=132)
CONFIG = EvalConfig(device="cuda", baselines=False, compile_threads=1, compile_processes=1)
SOURCE = """import torch
import triton
import triton.language as tl


@triton.jit
def copy_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


class ModelNew(torch.nn.Module):
    def forward(self, x):
        out = torch.empty_like(x)
        copy_kernel[(triton.cdiv(x.numel(), 1024),)](x, out, x.numel(), BLOCK=1024)
        return out  # {n}
"""


class FakeChild:
    def __init__(self, name: str, sessions: list[FakeSession]) -> None:
        self.name, self.sessions = name, sessions

    def call(self, step: str, timeout_s: float, req: Any) -> Any:
        session = self.sessions[-1]
        session.requests.append(req.KIND)
        if isinstance(req, pr.LoadReference):
            if session.fail_reference:
                raise runner.TaskFailure("task.py: get_inputs() raised ValueError: bad size")
            return pr.ReferenceLoaded(ENV)
        if isinstance(req, pr.Trial):
            return pr.TrialRan([], 0.0)
        if isinstance(req, pr.TakeInputs):
            return pr.Nothing()
        if isinstance(req, pr.LoadCandidate):
            session.labels.append(req.label)
            return pr.CandidateLoaded([])
        if isinstance(req, pr.CollectKernels):
            raise runner.StepFailure(Status.CRASH, "candidate process killed by signal SIGSEGV", "candidate")
        if isinstance(req, pr.Screen):
            (label,) = req.labels
            source = Path(session.paths[label]).read_text() if label in session.paths else ""
            if "crash" in source:
                raise runner.StepFailure(Status.CRASH, "candidate process killed by signal SIGSEGV", "candidate")
            return pr.Screened({label: pr.ScreenRun(0.01, STATS)})
        raise AssertionError(f"unexpected {req.KIND}")


class FakeSession:
    def __init__(self) -> None:
        self.requests: list[str] = []
        self.labels: list[str] = []
        self.paths: dict[str, str] = {}
        self.closed = False
        self.fail_reference = FakeSession.fail_next
        FakeSession.fail_next = False

    fail_next = False  # the next session's reference fails (the task's own code)


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[FakeSession]]:
    opened: list[FakeSession] = []

    @contextmanager
    def fake_session(task: Any, config: Any, device: str, workdir: Path, seed: int) -> Iterator[tuple[Any, Any]]:
        session = FakeSession()
        opened.append(session)
        try:
            yield FakeChild("reference", opened), FakeChild("candidate", opened)
        finally:
            session.closed = True

    real_write = runner._write_source

    def write(candidate: Candidate, workdir: Path, name: str) -> str:
        path = real_write(candidate, workdir, name)
        opened[-1].paths[name] = path
        return path

    monkeypatch.setattr(runner, "_session", fake_session)
    monkeypatch.setattr(runner, "_write_source", write)
    monkeypatch.setattr(runner, "_cuda_visible", lambda: True)
    yield opened
    runner.close_screening(all_threads=True)


def _cands(n: int, tag: str = "") -> list[Candidate]:
    return [Candidate(source=SOURCE.format(n=f"{tag}{i}")) for i in range(n)]


def _task() -> Any:
    return load_task(EXAMPLES / "elu" / "task.py", {"batch_size": "8"})


def test_the_phases_of_a_search_share_one_session(sessions: list[FakeSession]) -> None:
    task = _task()
    first = runner.screen_many(task, _cands(3), CONFIG)
    second = runner.screen_many(task, _cands(2, "b"), CONFIG)
    assert all(r.ok and r.timing is not None for r in first + second)
    assert len(sessions) == 1 and not sessions[0].closed
    assert sessions[0].labels == ["s1", "s2", "s3", "s4", "s5"]  # each config its own module name
    assert sessions[0].requests.count("trial") == sessions[0].requests.count("inputs") == 1  # inputs made once


def test_another_task_or_settings_closes_the_open_session(sessions: list[FakeSession]) -> None:
    task = _task()
    runner.screen_many(task, _cands(2), CONFIG)
    runner.screen_many(task, _cands(2), EvalConfig(device="cuda", baselines=False, compile_threads=1,
                                                    compile_processes=1, seed=7))
    assert len(sessions) == 2 and sessions[0].closed and not sessions[1].closed
    runner.close_screening()  # what an evaluation or an A/B does first
    assert sessions[1].closed


def test_a_crash_closes_the_session_and_the_rest_go_on_in_a_new_one(sessions: list[FakeSession]) -> None:
    cands = [*_cands(1), Candidate(source=SOURCE.format(n="crash")), *_cands(2, "c")]
    results = runner.screen_many(_task(), cands, CONFIG)
    assert [r.status for r in results] == [Status.OK, Status.CRASH, Status.OK, Status.OK]
    assert len(sessions) == 2 and sessions[0].closed and not sessions[1].closed


def test_an_idle_session_closes_itself(sessions: list[FakeSession], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "SCREEN_IDLE_S", 0.05)
    runner.screen_many(_task(), _cands(2), CONFIG)
    deadline = time.monotonic() + 5
    while not sessions[0].closed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sessions[0].closed and not runner._SCREENINGS


def test_each_thread_has_its_own_session(sessions: list[FakeSession]) -> None:
    task = _task()
    runner.screen_many(task, _cands(1), CONFIG)
    other = threading.Thread(target=runner.screen_many, args=(task, _cands(1, "t"), CONFIG))
    other.start()
    other.join()
    assert len(sessions) == 2 and not any(s.closed for s in sessions)  # a batch's tasks screen side by side


def test_a_task_that_fails_as_the_session_opens_is_the_tasks_error(sessions: list[FakeSession]) -> None:
    from tritonwright.errors import TaskError

    FakeSession.fail_next = True
    with pytest.raises(TaskError, match="get_inputs"):
        runner.screen_many(_task(), _cands(2), CONFIG)
    assert sessions[0].closed and not runner._SCREENINGS  # nothing left open


def test_a_broken_compile_ahead_pass_is_dropped_and_the_configs_are_screened_without_it(
        sessions: list[FakeSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """The collection pass crashed the candidate child: a new session screens the same configs with neither
    compile-ahead pass (the processes' nor the threads')."""
    class Proc:  # a compiler child that is never asked anything: the collection fails first
        pid = None

        def is_alive(self) -> bool:
            return True

        def kill(self) -> None:
            pass

        def join(self, timeout: float | None = None) -> None:
            pass

    class Helper:
        proc = Proc()

    monkeypatch.setattr(runner, "start_compilers", lambda workdir, n, first=0: [Helper() for _ in range(n)])
    ahead = EvalConfig(device="cuda", baselines=False, compile_threads=4, compile_processes=4)
    results = runner.screen_many(_task(), _cands(3), ahead)
    assert all(r.ok and r.timing is not None for r in results)
    assert len(sessions) == 2 and sessions[0].closed and "collect" in sessions[0].requests
    assert "collect" not in sessions[1].requests and "precompile" not in sessions[1].requests
