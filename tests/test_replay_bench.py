"""bench/replay_bench.py on a tiny corpus, on the CPU (Triton's interpreter): the batch runs through the CLI with
replayed replies, the results are rendered from the store, a second invocation resumes the same run without
redoing a finished task, the budget interrupts a run resumably, and a planted judge frame is caught."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bench import replay_bench
from tritonwright.decision import Decision
from tritonwright.store import AttemptRecord, RunStore

# A reference with small sizes: the interpreter runs it in well under a second. FORWARD is the body's one line.
TASK = '''import time

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        {forward}


batch_size = 4
dim = 64


def get_inputs():
    return [torch.randn(batch_size, dim)]


def get_init_inputs():
    return []
'''
# Written for these tests: one elementwise Triton kernel; BODY is the value it stores.
REPLY = '''Here is the kernel.

```python
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def ew_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(y_ptr + offs, {body}, mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x):
        x = x.contiguous()
        y = torch.empty_like(x)
        n = x.numel()
        ew_kernel[(triton.cdiv(n, 256),)](x, y, n, BLOCK=256)
        return y
```
'''
FAST = ("--device", "cpu", "--stages", "none", "--workers", "1")  # seed, repairs and final check only


def _corpus(root: Path, tasks: dict[str, tuple[str, str]]) -> Path:
    """tasks: name -> (the reference's forward line, the kernel's stored value); one seed reply each."""
    (root / "tasks").mkdir(parents=True)
    lines = []
    for name, (forward, body) in tasks.items():
        (root / "tasks" / f"{name}.py").write_text(TASK.format(forward=forward))
        lines.append(json.dumps({"task": name, "step": "seed", "attempt": 0, "text": REPLY.format(body=body),
                                 "finish_reason": "stop", "input_tokens": 100, "output_tokens": 200}))
    (root / "replay.jsonl").write_text("\n".join(lines) + "\n")
    origin = {"source": "test", "commit": "0" * 40, "tasks": {
        name: {"best_runnable": True, "best_score": 1.25, "llm_calls": 3, "best": {"tritonwright_key": "seed#0"}}
        for name in tasks}}
    (root / "origin.json").write_text(json.dumps(origin))
    return root


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    # 2_Scale's kernel names an undefined value: a compile error on a GPU, a NameError in the interpreter; no
    # repair is recorded, so each repair call is refused ("no recorded reply") and the task ends failed.
    return _corpus(tmp_path / "corpus", {"1_ReLU": ("return torch.relu(x)", "tl.maximum(x, 0.0)"),
                                         "2_Scale": ("return x * 2.5", "x * undefined_scale")})


def _bench(corpus: Path, out: Path, *extra: str) -> dict[str, Any]:
    assert replay_bench.main(["--corpus", str(corpus), "--out", str(out), *extra]) == 0
    return json.loads((out / "results.json").read_text())


def _rows(out: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(out / "store" / "runs.sqlite")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_run_render_resume_and_leaks(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    res = _bench(corpus, out, *FAST)
    state = json.loads((out / "state.json").read_text())
    run_id = state["run_id"]
    assert run_id and res["run_id"] == run_id and res["run_status"] == "done" and res["remaining"] == []

    relu, scale = res["tasks"]["1_ReLU"], res["tasks"]["2_Scale"]
    assert relu["status"] == "done" and relu["end"] == {"status": "done", "final_status": "OK",
                                                          "final_decision": "KEEP", "best_step": "seed"}
    assert [(s["step"], s["decision"]) for s in relu["path"]] == [("seed", "BASE"), ("final", "KEEP")]
    assert relu["llm"] == {"answered": 1, "refused": 0, "input_tokens": 100, "output_tokens": 200}
    assert relu["phases"]["evaluation"]["sessions"] == 2 and relu["phases"]["evaluation"]["wall_s"] > 0
    assert relu["phases"]["evaluation"]["gpu_s"] is None  # a CPU run has no GPU figures
    assert relu["floor"]["ms"] is None and "no GPU" in relu["floor"]["reason"]
    assert relu["origin"] == {"best_score": 1.25, "best_runnable": True, "best_step": "seed#0", "calls": 3,
                              "stages_run": None, "seed_runnable": None}

    assert scale["status"] == "failed" and scale["end"]["best_step"] is None
    seed = scale["path"][0]
    assert seed["step"] == "seed" and seed["decision"] == "FAILED" and "undefined_scale" in seed["reason"]
    repairs = [s for s in scale["path"] if s["step"].startswith("repair:")]
    assert repairs and all("no recorded reply" in s["reason"] for s in repairs)
    # the first repair's analysis call is refused for good: no fix call, no further repair rounds
    assert len(repairs) == 1 and scale["llm"]["answered"] == 1 and scale["llm"]["refused"] == 1
    # the refused calls name the replay file (under the results folder): the user's path, not a leak
    assert res["leaks"] == {"count": 0, "items": []}

    md = (out / "results.md").read_text()
    env = res["env"]
    for text in (f"torch {env['torch']}", f"triton {env['triton']}", f"Python {env['python']}",
                 f"tritonwright {env['tritonwright']}", "device cpu", "bench/replay_bench.py --corpus",
                 "tritonwright batch", "| 1_ReLU | done | seed | OK KEEP |", "| 2_Scale | failed |",
                 "harness was loose", "1.25x", "None found.", "`repair:1` (llm) REJECTED -> FAILED",
                 "NameError: name 'undefined_scale' is not defined", "**other**: GPU = tasks.gpu_s"):
        assert text in md, text
    # committed results name the folders, not this machine's absolute paths
    for text in (md, (out / "results.json").read_text()):
        assert str(out.resolve()) not in text and "$RESULTS" in text

    # A kill in the middle of 1_ReLU (what Ctrl-C leaves): the next invocation resumes the same run, redoes only
    # that task, and replays its recorded steps instead of evaluating or asking again.
    store = RunStore(out / "store")
    store.finish_task(run_id, "1_ReLU", "interrupted", error="the run was interrupted (Ctrl-C) while this task ran")
    store.close()
    steps = "SELECT task_key, seq, step_key, created FROM attempts ORDER BY task_key, seq"
    calls = "SELECT task_key, step_key, created FROM llm_calls ORDER BY task_key, step_key"
    before = (_rows(out, steps), _rows(out, calls))
    res = _bench(corpus, out)  # no --device/--stages: the run's recorded settings apply
    state = json.loads((out / "state.json").read_text())
    assert state["run_id"] == run_id and _rows(out, "SELECT id FROM runs") == [(run_id,)]
    assert (_rows(out, steps), _rows(out, calls)) == before  # no step redone, no call asked again
    part = state["parts"][-1]
    assert part["resuming"] == ["1_ReLU"] and f"--resume {run_id}" in part["cli"] and part["rc"] == 0
    assert res["tasks"]["1_ReLU"]["status"] == "done" and res["tasks"]["1_ReLU"]["resumed"]
    assert res["tasks"]["1_ReLU"]["phases"]["other"]["wall_s"] is None  # its wall_s covers the last part only

    # Everything finished: a third invocation runs nothing and renders again.
    res = _bench(corpus, out)
    assert json.loads((out / "state.json").read_text())["parts"][-1]["cli"] is None

    # A reason holding a judge frame and a temp path is listed, with its task and step.
    store = RunStore(out / "store")
    store.record_attempt(run_id, "1_ReLU", AttemptRecord(
        "planted", "seed", "llm", Decision.FAILED, decision_reason="fails its check",
        reason='Traceback:\n  File "/usr/lib/site-packages/tritonwright/eval/worker.py", line 88, in run\n'
               '  File "/tmp/tritonwright-eval-k2j3/c0_9f8e.py", line 3\nValueError: boom'))
    store.close()
    res = _bench(corpus, out, "--render-only")
    assert res["leaks"]["count"] == 2 and {lk["step"] for lk in res["leaks"]["items"]} == {"planted"}
    md = (out / "results.md").read_text()
    assert "- 1_ReLU `planted` (reason, a frame of the judge's own code)" in md
    assert "tritonwright-eval-k2j3" in md and "None found." not in md

    # A benchmark done in two runs (e.g. the first tasks at an earlier commit): --combine takes each task from the
    # run that finished it, with that run's leaks only, and names the runs and what they were.
    first = json.loads((out / "results.json").read_text()) | {"run_id": "run-A"}
    second = json.loads(json.dumps(first)) | {"run_id": "run-B"}
    first["tasks"]["2_Scale"] = {"key": "2_Scale", "status": "not started", "origin": {}}
    second["tasks"]["1_ReLU"] = second["tasks"]["1_ReLU"] | {"status": "interrupted"}
    paths = []
    for name, part in (("a.json", first), ("b.json", second)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(part))
    merged_dir = tmp_path / "merged"
    assert replay_bench.main(["--corpus", str(corpus), "--out", str(merged_dir), "--combine", *map(str, paths),
                              "--note", "commit aaa", "--note", "commit bbb"]) == 0
    merged = json.loads((merged_dir / "results.json").read_text())
    assert {k: (v["status"], v["run"]) for k, v in merged["tasks"].items()} == {
        "1_ReLU": ("done", "run-A"), "2_Scale": ("failed", "run-B")}
    assert merged["leaks"]["count"] == 2 and merged["remaining"] == []  # the planted leak is in run A's 1_ReLU
    assert merged["totals"]["status"] == {"done": 1, "failed": 1}
    md = (merged_dir / "results.md").read_text()
    for text in ("run `run-A` (done), run `run-B` (done), 2/2 tasks finished", "### Run `run-A`: 1 task(s); "
                 "commit aaa", "### Run `run-B`: 2 task(s); commit bbb", "### 1_ReLU: done (run `run-A`)"):
        assert text in md, text
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert replay_bench.main(["--corpus", str(corpus), "--out", str(merged_dir), "--combine", str(bad)]) == 2
    assert replay_bench.main(["--corpus", str(corpus), "--out", str(merged_dir), "--combine", str(paths[0]),
                              "--note", "a", "--note", "b"]) == 2  # more notes than files: said, nothing written
    assert json.loads((merged_dir / "results.json").read_text()) == merged


def test_budget_interrupts_resumably(tmp_path: Path) -> None:
    # the reference sleeps 3 s per call (>= 4 calls per evaluation): the task is still running at the budget
    corpus = _corpus(tmp_path / "corpus", {"1_Slow": ("time.sleep(3); return torch.relu(x)", "tl.maximum(x, 0.0)")})
    out = tmp_path / "results"
    res = _bench(corpus, out, *FAST, "--budget-s", "10")
    state = json.loads((out / "state.json").read_text())
    part = state["parts"][-1]
    assert state["run_id"] and "cli_pid" not in state
    assert part["stopped"] == "budget: SIGINT" and part["rc"] == 130 and part["interrupted"] == ["1_Slow"]
    assert res["run_status"] == "interrupted" and res["remaining"] == ["1_Slow"]
    assert res["tasks"]["1_Slow"]["status"] == "interrupted"
    assert "1 task(s) not finished: 1_Slow" in (out / "results.md").read_text()


def test_only_picks_tasks_by_either_name(tmp_path: Path) -> None:
    tasks = {"39_L2Norm_": Path("a"), "21_Sigmoid": Path("b")}
    assert replay_bench.pick(tasks, "39_L2Norm") == ["39_L2Norm_"]  # the replies' name, without the '_'
    assert replay_bench.pick(tasks, "21_Sigmoid,39_L2Norm_") == ["39_L2Norm_", "21_Sigmoid"]  # corpus order
    with pytest.raises(replay_bench.BenchError, match="unknown task"):
        replay_bench.pick(tasks, "nope")
