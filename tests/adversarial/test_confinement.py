"""The candidate's child is confined (eval.confine): its own session and empty working folder, no argv, no
task path; the judge's process is non-dumpable; nothing started in the child outlives the evaluation; a
candidate that writes the task file gets its verdict refused."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_eval_cpu import CPU, candidate
from tritonwright.eval import confine, runner
from tritonwright.eval.runner import evaluate
from tritonwright.eval.types import Status
from tritonwright.task import load_task

FIXTURES = Path(__file__).parent.parent / "fixtures" / "eval"


@pytest.fixture()
def task(tmp_path):
    path = tmp_path / "scale_task.py"
    shutil.copy(FIXTURES / "scale_task.py", path)
    return load_task(path, {"n": "500"})


def test_the_child_runs_in_its_own_session_and_an_empty_folder(task, tmp_path, monkeypatch) -> None:
    report = tmp_path / "facts.json"
    body = f"""
        import json as _j, os as _o, sys as _s
        facts = {{"sid_is_pid": _o.getsid(0) == _o.getpid(), "cwd": _o.getcwd(), "files": _o.listdir("."),
                 "argv": list(_s.argv)}}
        open({str(report)!r}, "w").write(_j.dumps(facts))
        return launch(x, torch.empty_like(x), self.scale)
    """
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)  # the rules refuse open/listdir already
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.OK, r.reason
    facts = json.loads(report.read_text())
    assert facts["sid_is_pid"] and facts["files"] == [] and facts["argv"] == ["tritonwright-candidate"]
    assert Path(facts["cwd"]).name == "candidate-home"


def test_a_candidate_that_writes_the_task_file_is_refused(task, monkeypatch) -> None:
    body = f"""
        with open({task.path!r}, "a") as f:
            f.write("\\n# changed by the candidate\\n")
        return launch(x, torch.empty_like(x), self.scale)
    """
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)
    r = evaluate(task, candidate(body), CPU)
    assert r.status is Status.REJECTED and "changed while the candidates ran" in r.reason, r.reason


def test_kill_group_leaves_no_process_of_the_group(tmp_path) -> None:
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    leader = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 10
    while len(confine.group_members(leader.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(confine.group_members(leader.pid)) == 2  # the leader and its background sleep
    confine.kill_group(leader.pid)
    leader.wait(10)
    deadline = time.monotonic() + 10
    while confine.group_members(leader.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert confine.group_members(leader.pid) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_the_judge_process_is_not_dumpable() -> None:
    code = ("import ctypes; from tritonwright.eval import confine; assert confine.forbid_dumping();"
            "print(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))")  # 3: PR_GET_DUMPABLE
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() == 0,
                    reason="root reads every process's environment; the protection is for a normal user")
def test_another_process_cannot_read_the_judges_environment() -> None:
    code = ("import subprocess, sys; from tritonwright.eval import confine; confine.forbid_dumping();"
            "r = subprocess.run([sys.executable, '-c', 'import os; open(f\"/proc/{os.getppid()}/environ\").read()'],"
            " capture_output=True, text=True); print(r.returncode, 'Permission' in r.stderr)")
    env = {**os.environ, "TRITONWRIGHT_TEST_SECRET": "x"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.split() == ["1", "True"], out.stdout + out.stderr


def test_a_candidate_cannot_write_the_json_result(task, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from tritonwright.cli import app

    out = tmp_path / "verdict.json"
    cand = tmp_path / "cand.py"
    body = f"""
        with open({str(out)!r}, "w") as f:
            f.write('{{"status": "OK", "forged": true}}')
        return launch(x, torch.empty_like(x), self.scale)
    """
    cand.write_text(candidate(body).source)
    monkeypatch.setattr(runner, "_static", lambda cand, task: None)
    result = CliRunner().invoke(app, ["eval", task.path, str(cand), "--device", "cpu", "--trials", "1",
                                      "--set", "n=500", "--json", str(out)])
    assert result.exit_code == 0, result.output
    verdict = json.loads(out.read_text())
    assert "forged" not in verdict and verdict["status"] == "OK" and verdict["seed"] is not None
