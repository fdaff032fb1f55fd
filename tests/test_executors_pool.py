"""The scheduler with fake slots (tests/fakes.py, no processes): results, one job per slot at a time, retries
after a dead worker, drained devices, errors passed through, nothing left hanging at close."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from typing import Any

import pytest

from tests.fakes import FakeSlot, SleepJob
from tritonwright.errors import TaskError
from tritonwright.executors.jobs import Job
from tritonwright.executors.pool import JobLost, NoHealthyWorkers, PoolClosed, SlotPool


def _job(label: str, seconds: float = 0.01, raise_message: str | None = None) -> SleepJob:
    return SleepJob(seconds, label=label, raise_message=raise_message)


def test_every_job_once_and_one_at_a_time_per_slot():
    slots = [FakeSlot("a"), FakeSlot("b"), FakeSlot("c")]
    with SlotPool(slots) as pool:
        futures = [pool.submit(_job(f"j{i}", 0.02)) for i in range(30)]
        results = [f.result(timeout=30) for f in futures]
    assert [r["label"] for r in results] == [f"j{i}" for i in range(30)]
    assert sorted(sum((s.ran for s in slots), [])) == sorted(f"j{i}" for i in range(30))
    assert all(s.max_running == 1 for s in slots)  # a timing never shares its device
    assert sum(len(s.ran) > 0 for s in slots) >= 2  # the work was spread


def test_dead_worker_job_retried_on_another_slot():
    a = FakeSlot("a", die_on={"victim"})
    b = FakeSlot("b", start_delay=0.3)  # a takes the job; b is ready by the time a's worker dies
    with SlotPool([a, b]) as pool:
        r = pool.call(_job("victim", 0.5))
        deadline = time.monotonic() + 5
        while a.starts < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        report = pool.report()
    assert r["label"] == "victim" and r["slot"] == "b"  # b was idle: the retry went elsewhere
    assert a.starts == 2  # the dead worker was restarted (and health-checked again)
    kinds = [(e["slot"], e["kind"]) for e in report["events"] if e["kind"] != "started"]
    assert kinds == [("a", "crash"), ("a", "retry")]
    assert {s["name"]: s["crashes"] for s in report["slots"]} == {"a": 1, "b": 0}


def test_single_slot_retries_on_itself():
    a = FakeSlot("a", die_on={"victim"}, die_times=2)
    with SlotPool([a]) as pool:
        assert pool.call(_job("victim"))["slot"] == "a"
    assert a.starts == 3


def test_job_lost_after_max_retries():
    a = FakeSlot("a", die_on={"poison"}, die_times=99)
    b = FakeSlot("b", die_on={"poison"}, die_times=99)
    with SlotPool([a, b], max_retries=2, max_crashes=10) as pool:
        with pytest.raises(JobLost, match="poison"):
            pool.call(_job("poison"))
        assert pool.call(_job("fine"))["label"] == "fine"  # the pool still works afterwards
        assert [e["kind"] for e in pool.report()["events"] if e["kind"] in {"crash", "lost"}] == [
            "crash", "crash", "crash", "lost"]


def test_unhealthy_device_is_drained_and_reported():
    bad, good = FakeSlot("bad", healthy=False), FakeSlot("good")
    with SlotPool([bad, good]) as pool:
        assert pool.wait_ready() == 1
        results = [pool.call(_job(f"j{i}")) for i in range(5)]
        report = pool.report()
    assert {r["slot"] for r in results} == {"good"}
    slot = {s["name"]: s for s in report["slots"]}["bad"]
    assert slot["state"] == "drained" and "health check" in slot["reason"] and "expected 42" in slot["reason"]


def test_device_whose_worker_keeps_dying_is_drained():
    a = FakeSlot("a", die_on={"x0", "x1", "x2"}, die_times=3)
    b = FakeSlot("b")
    with SlotPool([a, b], max_crashes=3) as pool:
        for i in range(3):  # each job dies once on a, then runs on b
            pool.submit(_job(f"x{i}", 0.05))
        results = [pool.call(_job(f"y{i}", 0.01)) for i in range(4)]
        time.sleep(0.2)
        states = {s["name"]: s["state"] for s in pool.report()["slots"]}
    assert len(results) == 4
    assert states["a"] in {"drained", "idle"}  # drained once its third crash happened


def test_all_drained_fails_jobs_clearly():
    with SlotPool([FakeSlot("a", healthy=False), FakeSlot("b", healthy=False)]) as pool:
        pool.wait_ready()
        with pytest.raises(NoHealthyWorkers, match="no healthy worker left"):
            pool.call(_job("j"))


def test_job_errors_pass_through_unchanged():
    with SlotPool([FakeSlot("a")]) as pool:
        with pytest.raises(TaskError, match="reference Model failed"):
            pool.call(_job("j", raise_message="the reference Model failed"))
        assert pool.call(_job("k"))["label"] == "k"


def test_close_fails_waiting_jobs_with_pool_closed():
    pool = SlotPool([FakeSlot("a")])
    first = pool.submit(_job("long", 0.5))
    waiting = pool.submit(_job("waiting"))
    time.sleep(0.1)
    pool.close()
    with pytest.raises(PoolClosed):
        waiting.result(timeout=5)
    assert first.done()
    with pytest.raises(PoolClosed):
        pool.submit(_job("late"))


def test_bad_slot_lists_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        SlotPool([])
    with pytest.raises(ValueError, match="unique"):
        SlotPool([FakeSlot("a"), FakeSlot("a")])


def test_session_takes_device_and_gpu_spec_from_the_pool(tmp_path):
    """A Ray driver may have no GPU: the device and the prompts' GPU spec come from a worker's check."""
    import dataclasses

    from tritonwright.gpus.detect import DeviceProps
    from tritonwright.pipeline.runner import RunSettings, Session
    from tritonwright.store import RunStore

    props = DeviceProps(name="NVIDIA H200", major=9, minor=0, sm_count=132, max_threads_per_sm=2048, warp_size=32,
                        l2_cache_bytes=60 * 2**20, shared_memory_per_sm_bytes=228 * 1024,
                        shared_memory_per_block_optin_bytes=227 * 1024, total_memory_bytes=143 * 2**30)

    class ClusterPool:
        device = "cuda"

        def health(self) -> dict[str, Any]:
            return {"ok": True, "device": "NVIDIA H200 on 10.0.0.7", "props": dataclasses.asdict(props)}

        def call(self, job: Job) -> Any:
            raise AssertionError("no job expected")

    store = RunStore(tmp_path)
    session = Session(store, store.create_run("batch", {}), RunSettings(), None, ClusterPool())
    assert session.device == "cuda"
    assert session.gpu.name == "H200" and session.gpu_note.startswith("detected")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the Ray executor is an optional extra")
def test_ray_pool_takes_the_device_from_the_cluster():
    import ray

    from tritonwright.executors.ray_executor import ray_pool

    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        with ray_pool("auto") as pool:  # this cluster has no GPU: interpreter workers
            assert pool.device == "cpu" and pool.size == 1
    finally:
        ray.shutdown()


# --- typed jobs ---------------------------------------------------------------------------------------------


def test_builders_give_typed_jobs_with_labels_and_budgets():
    from tritonwright.candidate import Candidate
    from tritonwright.eval.types import EvalConfig
    from tritonwright.executors import jobs
    from tritonwright.task import Task

    task, cand, cfg = Task(path="t.py", name="t", source=""), Candidate(source="x = 1"), EvalConfig()
    ev = jobs.evaluate_job(task, [cand, cand], cfg, "t: evaluate")
    assert isinstance(ev, jobs.EvaluateJob) and ev.label == "t: evaluate" and ev.candidates == [cand, cand]
    assert ev.timeout_s > jobs.evaluate_job(task, [cand], cfg).timeout_s  # the budget grows with candidates
    assert isinstance(jobs.screen_job(task, [cand], cfg), jobs.ScreenJob)
    cmp = jobs.compare_job(task, cand, cand, cfg, 0.02, 10, repeats=3, label="ab")
    assert isinstance(cmp, jobs.CompareJob) and (cmp.threshold, cmp.rounds, cmp.repeats) == (0.02, 10, 3)
    health = jobs.health_job("cpu")
    assert isinstance(health, jobs.HealthJob) and health.label == "health check" and health.timeout_s > 0
    assert isinstance(jobs.floor_job(task, "cpu", None), jobs.FloorJob)
    for job in (ev, cmp, health, SleepJob()):
        assert isinstance(job, jobs.Job)  # the interface the pool and the workers rely on
        with pytest.raises(dataclasses.FrozenInstanceError):
            job.label = "changed"  # type: ignore[misc]


def test_jobs_run_by_their_type(monkeypatch):
    from tritonwright.candidate import Candidate
    from tritonwright.eval import runner
    from tritonwright.eval.types import EvalConfig
    from tritonwright.executors import jobs
    from tritonwright.task import Task

    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(runner, "evaluate_many", lambda t, c, cfg: calls.append(("evaluate", len(c))) or ["ev"])
    monkeypatch.setattr(runner, "screen_many",
                        lambda t, c, cfg, cutoff=None: calls.append(("screen", len(c), cutoff)) or ["sc"])
    monkeypatch.setattr(runner, "compare_repeated",
                        lambda t, a, b, cfg, th, rounds, repeats: calls.append(("compare", repeats)) or
                        [f"cmp{i}" for i in range(repeats)])
    task, cand, cfg = Task(path="t.py", name="t", source=""), Candidate(source="x = 1"), EvalConfig()
    run = jobs.InlineExecutor().call
    assert run(jobs.evaluate_job(task, [cand], cfg)) == ["ev"]
    assert run(jobs.screen_job(task, [cand, cand], cfg, cutoff_ms=0.5)) == ["sc"]
    assert run(jobs.compare_job(task, cand, cand, cfg, 0.02, 10)) == "cmp0"  # one decision: not a list
    assert run(jobs.compare_job(task, cand, cand, cfg, 0.02, 10, repeats=2)) == ["cmp0", "cmp1"]
    assert calls == [("evaluate", 1), ("screen", 2, 0.5), ("compare", 1), ("compare", 2)]  # the cutoff goes along
    assert jobs.run_job(SleepJob(0.0, "v")) == {"slept": 0.0, "value": "v"}  # a job production code never saw
    with pytest.raises(TypeError, match="not a job"):
        jobs.run_job({"kind": "sleep"})  # type: ignore[arg-type]


def test_the_health_check_starts_the_evaluations_fork_server_first(monkeypatch):
    """The fork server's imports (torch, Triton, dynamo) overlap the check instead of the first evaluation."""
    from tritonwright.eval import runner
    from tritonwright.executors import health, jobs

    order: list[str] = []
    monkeypatch.setattr(runner, "prestart", lambda device: order.append(f"prestart {device}"))
    monkeypatch.setattr(health, "check", lambda device: order.append(f"check {device}") or {"ok": True})
    assert jobs.health_job("cuda").run() == {"ok": True}
    assert order == ["prestart cuda", "check cuda"]


def test_a_failed_prestart_is_no_failure(monkeypatch):
    from tritonwright.eval import runner

    def broken(device: str) -> None:
        raise RuntimeError("no fork server here")

    monkeypatch.setattr(runner, "_context", broken)
    runner.prestart("cpu")  # nothing raised: the first session starts it, or spawns, as before


def test_the_sleep_job_lives_in_the_tests():
    from pathlib import Path

    from tritonwright.executors import jobs

    source = Path(jobs.__file__).read_text()
    assert "sleep" not in source and not hasattr(jobs, "KINDS")
