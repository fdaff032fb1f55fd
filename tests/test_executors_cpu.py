"""Real workers on the CPU (Triton's interpreter): the local pool and the Ray executor run a batch with the
same results as one worker, a worker killed mid-job costs nothing, and a device that fails its health
check is drained."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import SleepJob
from tritonwright.candidate import read_candidate
from tritonwright.eval.types import EvalConfig
from tritonwright.executors.jobs import evaluate_job
from tritonwright.executors.pool import local_pool
from tritonwright.task import load_task

ROOT = Path(__file__).parent.parent
SMALL = {"elu": {"batch_size": "3", "dim": "200"}, "softmax": {"batch_size": "3", "dim": "200"},
         "layernorm": {"batch_size": "3", "hidden": "64"}}
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(autouse=True)
def _tests_importable(monkeypatch) -> None:
    """Workers unpickle tests.fakes.SleepJob: the repository root goes on their path, wherever pytest runs."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    f = tmp_path_factory.mktemp("pool") / "tasks"
    for i, (name, sets) in enumerate(SMALL.items(), start=1):
        dst = f / f"{i}_{name}"
        dst.mkdir(parents=True)
        shutil.copy(ROOT / "examples" / name / "candidate.py", dst / "candidate.py")
        text = (ROOT / "examples" / name / "task.py").read_text()
        for k, v in sets.items():
            text = re.sub(rf"\n{k} = [^\n]*", f"\n{k} = {v}", text, count=1)
        (dst / "task.py").write_text(text)
    return f


def _batch(folder: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    # block_tiling runs the launch tuner (a dry run on CPU): several evaluations per task, so jobs interleave.
    cmd = [sys.executable, "-m", "tritonwright", "batch", str(folder), "--device", "cpu", "--stages", "block_tiling",
           "--out", str(out), "--quiet", *extra]
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=900)


def _results(out: Path) -> dict[str, object]:
    """What a run decided, without timestamps or run ids: task statuses, every step, the best code."""
    con = sqlite3.connect(out / "runs.sqlite")
    tasks = con.execute("SELECT key, status, json_extract(best, '$.candidate_id') FROM tasks ORDER BY key").fetchall()
    steps = con.execute("SELECT task_key, step_key, decision, status, candidate_id FROM attempts "
                        "ORDER BY task_key, seq").fetchall()
    (run,) = con.execute("SELECT id FROM runs").fetchone()
    best = {p.parent.name: p.read_text().split("\n\n", 1)[1] for p in (out / run).glob("*/best.py")}
    executor = con.execute("SELECT json_extract(env, '$.executor') FROM runs").fetchone()[0]
    return {"tasks": tasks, "steps": steps, "best": best, "executor": executor}


@pytest.fixture(scope="module")
def sequential(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("seq")
    proc = _batch(folder, out, "--workers", "1", "--tasks-at-once", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = _results(out)
    assert [t[1] for t in res["tasks"]] == ["done"] * 3
    assert len(res["best"]) == 3
    return res


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a["tasks"] == b["tasks"]
    assert a["steps"] == b["steps"]
    assert a["best"] == b["best"]


def test_three_workers_match_one(folder, sequential, tmp_path):
    proc = _batch(folder, tmp_path, "--workers", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = _results(tmp_path)
    _same(res, sequential)
    assert '"executor":"local"' in res["executor"].replace(" ", "")
    assert "local workers" in proc.stdout and "cpu2" in proc.stdout


def _worker_pids(driver: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == driver and "tritonwright.executors.worker" in cmd:
            pids.append(int(entry.name))
    return sorted(pids)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc (Linux)")
def test_worker_killed_mid_batch_loses_nothing(folder, sequential, tmp_path):
    cmd = [sys.executable, "-m", "tritonwright", "batch", str(folder), "--device", "cpu", "--stages",
           "block_tiling", "--out", str(tmp_path), "--quiet", "--workers", "2"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    deadline = time.monotonic() + 300
    while killed is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        db = tmp_path / "runs.sqlite"
        if not db.exists():
            continue
        try:  # once the first step is recorded every worker is busy with a task's job
            n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM attempts").fetchone()[0]
        except sqlite3.OperationalError:
            continue
        pids = _worker_pids(proc.pid)
        if n >= 1 and pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
    out, _ = proc.communicate(timeout=900)
    assert killed is not None, out
    assert proc.returncode == 0, out
    res = _results(tmp_path)
    _same(res, sequential)  # the killed job ran again elsewhere: same decisions, nothing lost
    assert "crash" in out and "retry" in out


def _kill_mid_job(pool, value: int):
    """Submit a 4 s job, SIGKILL the worker running it; returns the job's future and the slot killed."""
    fut = pool.submit(SleepJob(4.0, value, "victim"))
    deadline = time.monotonic() + 30
    while not pool.busy() and time.monotonic() < deadline:
        time.sleep(0.05)
    (slot,) = pool.busy()
    os.kill(pool.pids()[slot], signal.SIGKILL)
    return fut, slot


def test_pool_retries_a_killed_evaluation_on_the_other_worker():
    task = load_task(ROOT / "examples/elu/task.py", SMALL["elu"])
    cand = read_candidate(ROOT / "examples/elu/candidate.py")
    cfg = EvalConfig(device="cpu", trials=1, secret_seeds=False)  # the same inputs: the same errors
    with local_pool("cpu", workers=2) as pool:
        assert pool.wait_ready() == 2
        expected = pool.call(evaluate_job(task, [cand], cfg, "first"))[0]
        fut, slot = _kill_mid_job(pool, 1)
        assert fut.result(timeout=60) == {"slept": 4.0, "value": 1}
        again = pool.call(evaluate_job(task, [cand], cfg, "after"))[0]
        events = pool.report()["events"]
    assert expected.ok and again.ok and [c.max_abs_err for c in again.outputs] == [
        c.max_abs_err for c in expected.outputs]
    assert [e["kind"] for e in events if e["slot"] == slot and e["kind"] != "started"] == ["crash", "retry"]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="needs a machine without a GPU")
def test_gpu_worker_without_gpu_fails_health_check_and_is_drained():
    from tritonwright.executors.pool import ProcessSlot, SlotPool

    slots = [ProcessSlot("cpu0", "cpu", {"CUDA_VISIBLE_DEVICES": ""}),
             ProcessSlot("gpu-missing", "cuda", {"CUDA_VISIBLE_DEVICES": ""})]
    with SlotPool(slots) as pool:
        assert pool.wait_ready() == 1
        assert pool.call(SleepJob(0.01, 3))["value"] == 3
        report = {s["name"]: s for s in pool.report()["slots"]}
    assert report["gpu-missing"]["state"] == "drained"
    assert "no CUDA device is visible" in report["gpu-missing"]["reason"]
    assert report["cpu0"]["jobs"] == 1


def test_pool_options_are_checked(folder, tmp_path):
    proc = _batch(folder, tmp_path, "--gpus", "0,1")
    assert proc.returncode == 2 and "--gpus needs --device cuda" in proc.stderr + proc.stdout
    proc = _batch(folder, tmp_path, "--ray-address", "auto")
    assert proc.returncode == 2 and "--ray-address needs --executor ray" in proc.stderr + proc.stdout
    proc = _batch(folder, tmp_path, "--executor", "slurm")
    assert proc.returncode == 2 and "expected one of local, ray" in proc.stderr + proc.stdout
    statuses = [r[0] for r in sqlite3.connect(tmp_path / "runs.sqlite").execute("SELECT status FROM runs")]
    assert statuses == ["failed"] * 3  # a setup mistake leaves no run looking alive


# --- Ray ---------------------------------------------------------------------------------------------------

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the Ray executor is an optional extra (pip install 'tritonwright[ray]')")


@needs_ray

def test_ray_executor_matches_one_local_worker(folder, sequential, tmp_path):
    proc = _batch(folder, tmp_path, "--executor", "ray", "--workers", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = _results(tmp_path)
    _same(res, sequential)
    assert '"executor":"ray"' in res["executor"].replace(" ", "")


@needs_ray
def test_ray_actor_killed_mid_job_is_retried():
    import ray

    from tritonwright.executors.ray_executor import ray_pool

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        task = load_task(ROOT / "examples/elu/task.py", SMALL["elu"])
        cand = read_candidate(ROOT / "examples/elu/candidate.py")
        with ray_pool("cpu", workers=2) as pool:
            assert pool.wait_ready() == 2
            res = pool.call(evaluate_job(task, [cand], EvalConfig(device="cpu", trials=1), "elu"))[0]
            assert res.ok, res.reason
            fut, slot = _kill_mid_job(pool, 2)
            assert fut.result(timeout=120) == {"slept": 4.0, "value": 2}
            kinds = [e["kind"] for e in pool.report()["events"] if e["slot"] == slot and e["kind"] != "started"]
        assert kinds == ["crash", "retry"]
    finally:
        ray.shutdown()


def test_ray_missing_gives_a_clear_message(monkeypatch):
    import builtins

    from tritonwright.errors import UserInputError
    from tritonwright.executors import ray_executor

    real = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(UserInputError, match=r"pip install 'tritonwright\[ray\]'"):
        ray_executor.ray_pool("cpu")


def test_llm_calls_of_several_tasks_overlap(tmp_path):
    """With an LLM, twice as many tasks as workers are in flight: their LLM calls run at the same time while
    the worker evaluates another task's answer."""
    from tritonwright.llm.fake_servers import FakeLLMServer, openai_completion

    folder = tmp_path / "tasks"
    code = (ROOT / "examples/elu/candidate.py").read_text()
    text = (ROOT / "examples/elu/task.py").read_text()
    for k, v in SMALL["elu"].items():
        text = re.sub(rf"\n{k} = [^\n]*", f"\n{k} = {v}", text, count=1)
    for i in range(1, 4):  # no candidate.py: the LLM writes each seed
        (folder / f"{i}_elu").mkdir(parents=True)
        (folder / f"{i}_elu" / "task.py").write_text(text)
    reply = openai_completion(f"```python\n{code}\n```")
    with FakeLLMServer("openai") as server:
        server.script(*[dataclasses.replace(reply, delay_s=3.0)] * 3)
        cmd = [sys.executable, "-m", "tritonwright", "batch", str(folder), "--device", "cpu", "--stages", "none",
               "--out", str(tmp_path / "out"), "--quiet", "--workers", "1", "--no-cache",
               "--llm", f"openai-compatible:{server.base_url}#fake-coder"]
        proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        asks = [r for r in server.requests if r.path != "/v1/models"]  # the provider check at start is not an ask
        assert len(asks) == 3
        assert server.max_in_flight == 2  # two tasks per worker asked at once; never more than in flight
    res = _results(tmp_path / "out")
    assert [t[1] for t in res["tasks"]] == ["done"] * 3


def test_ctrl_c_stops_the_batch_at_once_and_resume_finishes_it(folder, sequential, tmp_path):
    cmd = [sys.executable, "-m", "tritonwright", "batch", str(folder), "--device", "cpu", "--stages",
           "block_tiling", "--out", str(tmp_path), "--quiet", "--workers", "1"]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
        db = tmp_path / "runs.sqlite"
        try:
            if db.exists() and sqlite3.connect(db).execute("SELECT COUNT(*) FROM attempts").fetchone()[0]:
                break
        except sqlite3.OperationalError:
            continue
    assert proc.poll() is None, "the batch ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    t = time.monotonic()
    out, _ = proc.communicate(timeout=120)
    stopped_in = time.monotonic() - t
    assert proc.returncode != 0
    assert stopped_in < 30, f"took {stopped_in:.0f} s to stop:\n{out}"  # tasks in flight did not run on
    con = sqlite3.connect(tmp_path / "runs.sqlite")
    statuses = [r[0] for r in con.execute("SELECT status FROM tasks")]
    assert "failed" not in statuses and "interrupted" in statuses  # interrupted, not failed: resumable
    assert not _worker_pids(proc.pid)
    (run,) = con.execute("SELECT id FROM runs").fetchone()
    con.close()
    done = subprocess.run([sys.executable, "-m", "tritonwright", "batch", str(folder), "--resume", run, "--out",
                           str(tmp_path), "--quiet", "--workers", "1"], env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    _same(_results(tmp_path), sequential)
