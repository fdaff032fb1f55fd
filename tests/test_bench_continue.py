"""`bench/run.py --continue`: a suite finished over several device commands keeps what earlier parts
measured and runs only the rest (and what --redo names)."""

from __future__ import annotations

import json

from bench import cli


def _fake_run(ran: list[str]):
    def run_one(job, mode, max_autotune, work, timeout_s):
        ran.append(job.name)
        result = {"status": "ok"}
        if job.kind == "quality_eval":
            result["max_autotune"] = {"compiled": {"median_ms": 1.0}} if max_autotune else None
        if job.kind == "ceilings":
            result |= {"env": {"gpu": "NVIDIA H200"}, "total_memory_mib": 1, "matmul": {},
                       "copy": {"median": 4e12, "reps": 20, "best": 4.1e12, "size": "4.0 GiB"}}
        return {"kind": job.kind, "example": job.example, "overrides": {}, "sections": sorted(job.sections),
                "status": "ok", "reason": "", "wall_s": 1.0, "result": result}
    return run_one


def test_continue_runs_only_unfinished_jobs(tmp_path, monkeypatch):
    ran: list[str] = []
    monkeypatch.setattr(cli, "_run_one", _fake_run(ran))
    monkeypatch.setattr(cli.report, "plot_quality", lambda results, path: None)
    monkeypatch.setattr(cli.report, "render_markdown", lambda results: json.dumps(results.get("parts")))
    out = tmp_path / "results"
    assert cli.main(["--only", "quality", "--examples", "elu,softmax", "--out", str(out), "--budget-s", "0"]) == 0
    first = list(ran)
    assert "ceilings" in first and "eval:elu" in first and "tune:softmax" in first
    (folder,) = out.iterdir()
    data = json.loads((folder / "results.json").read_text())
    data["jobs"]["tune:softmax"]["status"] = "timeout"  # as if the first part's command ran out of time
    (folder / "results.json").write_text(json.dumps(data))

    ran.clear()
    assert cli.main(["--only", "quality", "--examples", "elu,softmax", "--out", str(out), "--budget-s", "0",
                     "--continue", str(folder)]) == 0
    assert ran == ["tune:softmax"]  # ceilings and the finished jobs are kept
    merged = json.loads((folder / "results.json").read_text())
    assert merged["jobs"]["tune:softmax"]["status"] == "ok" and len(merged["parts"]) == 2

    ran.clear()  # max-autotune asked for now: evaluations without it run again, and --redo forces a job
    assert cli.main(["--only", "quality", "--examples", "elu,softmax", "--out", str(out), "--budget-s", "0",
                     "--continue", str(folder), "--max-autotune", "--redo", "tune:elu"]) == 0
    assert sorted(ran) == ["eval:elu", "eval:softmax", "tune:elu"]


def test_redo_needs_continue(tmp_path):
    assert cli.main(["--redo", "trust", "--out", str(tmp_path)]) == 2
