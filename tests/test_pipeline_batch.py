"""`batch` killed with SIGKILL mid-run and resumed: same results as an uninterrupted run, nothing redone,
nothing lost."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SMALL = {"elu": ["batch_size=4", "dim=300"], "softmax": ["batch_size=3", "dim=200"],
         "layernorm": ["batch_size=3", "hidden=64"]}


def _folder(tmp: Path) -> Path:
    folder = tmp / "tasks"
    for i, name in enumerate(SMALL, start=1):
        dst = folder / f"{i}_{name}"
        dst.mkdir(parents=True)
        for f in ("task.py", "candidate.py"):
            shutil.copy(ROOT / "examples" / name / f, dst / f)
    return folder


def _cmd(folder: Path, out: Path, *extra: str) -> list[str]:
    # One --set per constant; constants another task lacks are a user error, so only shared names are used.
    return [sys.executable, "-m", "tritonwright", "batch", str(folder), "--device", "cpu", "--stages", "none",
            "--out", str(out), "--quiet", *extra]


def _rows(out: Path) -> tuple[list[tuple], list[tuple]]:
    con = sqlite3.connect(out / "runs.sqlite")
    tasks = con.execute("SELECT key, status, json_extract(best, '$.candidate_id') FROM tasks ORDER BY key").fetchall()
    attempts = con.execute("SELECT task_key, step_key, decision, status FROM attempts ORDER BY task_key, seq"
                           ).fetchall()
    return tasks, attempts


@pytest.fixture()
def folder(tmp_path):
    f = _folder(tmp_path)
    # Shrink each task through its own constants (the batch's --set applies to every task, so edit files).
    for i, (name, sets) in enumerate(SMALL.items(), start=1):
        path = f / f"{i}_{name}" / "task.py"
        text = path.read_text()
        for item in sets:
            k, v = item.split("=")
            text = text.replace(f"\n{k} = ", f"\n{k} = {v}  # was ", 1)
        path.write_text(text)
    return f


def test_kill_and_resume_matches_uninterrupted(folder, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ref_out = tmp_path / "ref"
    subprocess.run(_cmd(folder, ref_out), check=True, env=env, capture_output=True, timeout=600)
    ref_tasks, ref_attempts = _rows(ref_out)
    assert [t[1] for t in ref_tasks] == ["done", "done", "done"]

    out = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(folder, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # kill as soon as the first task is done and the second has begun
        time.sleep(0.5)
        if (out / "runs.sqlite").exists():
            try:
                tasks, attempts = _rows(out)
            except sqlite3.OperationalError:
                continue
            if tasks and tasks[0][1] == "done" and len(tasks) >= 2:
                break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    tasks, _ = _rows(out)
    assert tasks[0][1] == "done" and any(t[1] == "running" for t in tasks) or len(tasks) < 3
    run_id = sqlite3.connect(out / "runs.sqlite").execute("SELECT id FROM runs").fetchone()[0]
    res = subprocess.run(_cmd(folder, out, "--resume", run_id), env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    tasks, attempts = _rows(out)
    assert tasks == ref_tasks  # same tasks, statuses and best candidates
    assert attempts == ref_attempts  # no duplicate attempts, no lost rows
    assert (out / run_id / "batch.html").exists()
