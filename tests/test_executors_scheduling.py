"""The pool's parts alone with fake slots (tests/fakes.py): the queue (executors/scheduling.py), the slots'
states and events (slot_board.py), and one slot's life on its thread (slot_runner.py), without a SlotPool."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import pytest

from tests.fakes import FakeSlot, SleepJob
from tritonwright.errors import TaskError
from tritonwright.executors.faults import JobLost, NoHealthyWorkers, PoolClosed
from tritonwright.executors.scheduling import JobQueue, Pending
from tritonwright.executors.slot_board import PoolEvent, SlotBoard
from tritonwright.executors.slot_runner import SlotRunner


def _parts(*names: str, on_event: Any = None) -> tuple[SlotBoard, JobQueue, list[FakeSlot]]:
    slots = [FakeSlot(n) for n in names]
    cond = threading.Condition()
    board = SlotBoard(list(slots), cond, on_event)
    return board, JobQueue(cond, board), slots


def test_jobs_are_taken_in_order_and_a_retry_goes_first() -> None:
    board, queue, _ = _parts("a")
    a = board.states["a"]
    futures = [queue.submit(SleepJob(label=f"j{i}")) for i in range(3)]
    first = queue.take(a)
    assert first is not None and first.job.label == "j0" and (a.state, a.current) == ("busy", "j0")
    with board.cond:
        queue.requeue(first)
    again = queue.take(a)
    assert again is first and len(futures) == 3


def test_a_retried_job_prefers_a_slot_it_has_not_died_on() -> None:
    board, queue, _ = _parts("a", "b")
    a, b = board.states["a"], board.states["b"]
    b.state = "idle"
    retried = Pending(SleepJob(label="victim"), Future(), tries=1, avoid={"a"})
    with board.cond:
        queue.requeue(retried)
    queue.submit(SleepJob(label="next"))
    took = queue.take(a)
    assert took is not None and took.job.label == "next"  # b is idle and the victim avoids a
    assert queue.take(b) is retried
    b.state = "busy"
    with board.cond:
        queue.requeue(Pending(SleepJob(label="again"), Future(), tries=1, avoid={"a"}))
    took = queue.take(a)
    assert took is not None and took.job.label == "again"  # nobody else free: a takes it after all


def test_closing_fails_waiting_jobs_and_refuses_new_ones() -> None:
    board, queue, _ = _parts("a")
    waiting = [queue.submit(SleepJob(label=f"j{i}")) for i in range(2)]
    queue.close()
    for fut in waiting:
        with pytest.raises(PoolClosed, match="before the job ran"):
            fut.result(timeout=1)
    assert waiting[0].exception() is not waiting[1].exception()  # one error each, as before the split
    with pytest.raises(PoolClosed):
        queue.submit(SleepJob())
    a = board.states["a"]
    assert queue.take(a) is None and a.state == "stopped"


def test_with_every_slot_drained_a_job_fails_at_once() -> None:
    board, queue, _ = _parts("a", "b")
    for name, st in board.states.items():
        st.state, st.reason = "drained", f"{name} is broken"
    fut = queue.submit(SleepJob())
    with pytest.raises(NoHealthyWorkers, match="no healthy worker left: a a is broken; b b is broken"):
        fut.result(timeout=1)


def test_the_board_logs_events_and_reports() -> None:
    seen: list[PoolEvent] = []

    def shaky(ev: PoolEvent) -> None:
        seen.append(ev)
        raise RuntimeError("a display problem")  # never stops the pool

    board, _, _ = _parts("a", "b", on_event=shaky)
    board.event("a", "started", "fake a")
    board.set_state(board.states["a"], "idle")
    board.states["b"].state = "drained"
    with board.cond:
        assert (board.starting(), board.usable(), board.all_drained()) == (False, 1, False)
        assert board.other_idle(board.states["b"], set()) and not board.other_idle(board.states["b"], {"a"})
    report = board.report("local")
    assert report["executor"] == "local" and [s["state"] for s in report["slots"]] == ["idle", "drained"]
    assert [e["kind"] for e in report["events"]] == ["started"] and seen[0].slot == "a"


def _run_one(slot: FakeSlot, job: SleepJob, max_retries: int = 2, max_crashes: int = 3
             ) -> tuple[Future[Any], SlotBoard, JobQueue]:
    cond = threading.Condition()
    board = SlotBoard([slot], cond)
    queue = JobQueue(cond, board)
    runner = SlotRunner(board.states[slot.name], board, queue, max_retries, max_crashes)
    fut = queue.submit(job)
    runner.thread.start()
    try:
        fut.exception(timeout=10)
    finally:
        queue.close()
        runner.thread.join(timeout=10)
    assert not runner.thread.is_alive()
    return fut, board, queue


def test_a_runner_starts_its_slot_and_runs_jobs() -> None:
    slot = FakeSlot("a")
    fut, board, _ = _run_one(slot, SleepJob(label="j"))
    assert fut.result() == {"label": "j", "slot": "a"} and slot.starts == 1
    st = board.states["a"]
    assert st.jobs == 1 and st.state == "stopped" and [e.kind for e in board.events] == ["started"]


def test_a_runner_passes_the_jobs_own_error_on() -> None:
    fut, board, _ = _run_one(FakeSlot("a"), SleepJob(label="j", raise_message="the reference failed"))
    assert isinstance(fut.exception(), TaskError) and board.states["a"].crashes == 0


def test_a_dead_worker_is_restarted_and_its_job_retried() -> None:
    slot = FakeSlot("a", die_on={"victim"}, die_times=1)
    fut, board, _ = _run_one(slot, SleepJob(label="victim"))
    assert fut.result()["label"] == "victim" and slot.starts == 2 and board.states["a"].crashes == 1
    assert [e.kind for e in board.events] == ["started", "crash", "retry", "started"]


def test_a_job_whose_worker_always_dies_is_lost_and_the_slot_drained() -> None:
    slot = FakeSlot("a", die_on={"poison"}, die_times=99)
    fut, board, _ = _run_one(slot, SleepJob(label="poison"), max_retries=1, max_crashes=2)
    with pytest.raises(JobLost, match="poison: the worker died on every try"):
        fut.result()
    st = board.states["a"]
    assert st.state == "drained" and st.reason == "its worker died 2 times"
    assert [e.kind for e in board.events] == ["started", "crash", "retry", "started", "crash", "lost", "drained"]


def test_a_slot_failing_its_health_check_is_drained_and_waiting_jobs_fail() -> None:
    fut, board, _ = _run_one(FakeSlot("a", healthy=False), SleepJob(label="j"))
    with pytest.raises(NoHealthyWorkers, match="failed its health check: wrong result"):
        fut.result()
    assert board.states["a"].state == "drained"
