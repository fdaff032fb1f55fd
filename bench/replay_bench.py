"""The LLM path over a corpus of recorded LLM replies (issue 20): `tritonwright batch` with the `replay:` provider
over every task of the corpus, resumable over several device commands, rendered from the run store.

    PYTHONPATH=src python3 bench/replay_bench.py --corpus ../shared/data/llm-replies --out RESULTS_DIR
                                                 [--device cuda] [--only a,b] [--budget-s 520]
    PYTHONPATH=src python3 bench/replay_bench.py --corpus ... --out DIR --combine A/results.json B/results.json \
                                                 --note "what run A was" --note "what run B was"

The corpus is a folder with `tasks/` (KernelBench files), `replay.jsonl` (the replies, in the replay provider's
format) and optionally `origin.json` (what the system that received the replies concluded per task).

1. The batch runs through the CLI in a subprocess (its own process group), its store in RESULTS_DIR/store, so a
   kill loses nothing. The run id goes to RESULTS_DIR/state.json as soon as the run exists; a later invocation
   with the same --out resumes that run (`batch --resume`) until every task is finished (done or failed). At
   --budget-s the CLI is interrupted like Ctrl-C (SIGINT: the run and its tasks in flight are marked
   `interrupted`, resumable; their recorded steps are replayed, not redone), then SIGTERM, then SIGKILL.
2. Whatever is finished is rendered, every time, into RESULTS_DIR/results.json and results.md: per task the
   verdict path, the end state, best ms and speedups, the floor, GPU and wall seconds per phase, LLM calls,
   and what origin.json concluded.
3. --combine merges the results.json of runs that each did part of the corpus (each task from the run that
   finished it) into one results.json and results.md, running nothing.
4. Every reason in the store is checked for the judge's own frames and temp paths ("leaks"; must be zero).

The task files and replay.jsonl are reached through symbolic links under RESULTS_DIR/corpus (made again at
each invocation), so the run records paths under RESULTS_DIR and survives the corpus moving between commands.
RESULTS_DIR/store holds the replies' code (candidates, LLM calls): keep it out of the repository.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # `python3 bench/replay_bench.py` without PYTHONPATH=src still finds the package
    sys.path.insert(0, str(SRC))

from tritonwright.eval.errtext import headline  # noqa: E402 - after the path fix above
from tritonwright.pipeline.runner import discover  # noqa: E402
from tritonwright.store import RunStore  # noqa: E402

DEFAULT_BUDGET_S = 520.0  # a device command's 600 s, less the SIGINT and SIGTERM graces below and ~30 s to render
INTERRUPT_GRACE_S = 40.0  # the CLI stops within 30 s of Ctrl-C (tests/test_executors_cpu.py asserts it); margin
TERM_GRACE_S = 10.0  # after SIGTERM a Python process exits at once unless it is stuck in C code: then SIGKILL
POLL_S = 0.5  # how often the budget and the new run's id are looked at while the CLI runs
FINISHED = ("done", "failed")  # the statuses `batch --resume` skips (pipeline/cli.py pending_entries)
REASON_CHARS = 300  # a verdict-path line: the exception line fits, a pasted kernel does not
# Text that must never reach a reason (prompts and reports show reasons): the judge's own code and temp files.
LEAK_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"tritonwright/eval/", "a frame of the judge's own code"),
    (r"(?<![\w.-])eval/\w+\.py", "a frame of the judge's own code (eval/worker.py, eval/runner.py, ...)"),
    (r"tritonwright/executors/", "a frame of the worker pool's code"),
    (r"tritonwright-(?:eval|ab|screen|ncu|prof|inductor)-", "a temp folder of the harness"),
    (r"\btritonwright_candidate_\w+", "the harness's internal module name for a candidate"),
    (r"_wrap_run\.<locals>", "the harness's launch hook"),
    (r"(?<![\w.-])/(?:var/)?tmp/", "a temp path"),
)
ORIGIN_NOTE = ("origin.json is what the system that received these replies concluded; its harness was loose (1 "
               "input, tolerance up to 0.1): a kernel it ran is not proof of correctness, and its scores (speedup "
               "over eager on its RTX 4090) are not comparable with this run's GPU")


# --------------------------------------------------------------------------------------------------------------
# The corpus and the state of the benchmark


class BenchError(Exception):
    """A mistake in the arguments or the results folder: one line, exit code 2."""


def norm_key(name: str) -> str:
    """A task name as the replay provider matches it (llm/types.py CallKey.slug): '39_L2Norm_' -> '39_L2Norm'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


def corpus_tasks(corpus: Path) -> dict[str, Path]:
    """The corpus's tasks by key (what `batch` calls them), in the batch's order."""
    folder = corpus / "tasks"
    if not folder.is_dir() or not (corpus / "replay.jsonl").is_file():
        raise BenchError(f"--corpus {corpus}: expected a folder with tasks/ and replay.jsonl")
    return {e.key: e.path for e in discover(folder)}


def pick(tasks: dict[str, Path], only: str | None) -> list[str]:
    """--only a,b: by task key or by the name the replies use (without a trailing '_')."""
    if not only:
        return list(tasks)
    by_norm = {norm_key(k): k for k in tasks}
    wanted: list[str] = []
    unknown: list[str] = []
    for name in (s.strip() for s in only.split(",") if s.strip()):
        key = name if name in tasks else by_norm.get(norm_key(name))
        (wanted if key else unknown).append(key or name)
    if unknown:
        raise BenchError(f"--only: unknown task(s) {', '.join(unknown)}; known: {', '.join(tasks)}")
    return [k for k in tasks if k in wanted]


def link_corpus(out: Path, corpus: Path, tasks: dict[str, Path], keys: list[str]) -> tuple[Path, Path]:
    """RESULTS_DIR/corpus/{tasks/<key>.py, replay.jsonl}: links to the selected tasks and the replies (made again
    each time, so a corpus moved between commands is found), the folder and file the run records."""
    base = out / "corpus"
    folder = base / "tasks"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.rglob("*.py"):  # links of an earlier selection (changed before its run started)
        if old.is_symlink():
            old.unlink()
    links = {folder / tasks[k].relative_to(corpus / "tasks"): tasks[k].resolve() for k in keys}
    links[base / "replay.jsonl"] = (corpus / "replay.jsonl").resolve()
    for link, target in links.items():
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    return folder, base / "replay.jsonl"


def load_state(out: Path) -> dict[str, Any]:
    path = out / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def save_state(out: Path, state: dict[str, Any]) -> None:
    """Written through a rename: a kill leaves the old state or the new one."""
    tmp = out / ".state.json.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, out / "state.json")


def query(db: Path, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    """Rows over a read-only connection, closed at once: the CLI is the store's only writer while it runs."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)  # waits out the CLI's write transactions
    try:
        con.row_factory = sqlite3.Row
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def run_ids(store: Path) -> set[str]:
    db = store / "runs.sqlite"
    if not db.is_file():
        return set()
    try:
        return {r[0] for r in query(db, "SELECT id FROM runs")}
    except sqlite3.OperationalError:  # created but no table yet: the CLI is making it
        return set()


def finished_tasks(store: Path, run_id: str | None) -> dict[str, str]:
    """Task key -> status, for the run's tasks that a resumed batch will not run again."""
    db = store / "runs.sqlite"
    if run_id is None or not db.is_file():
        return {}
    rows = query(db, "SELECT key, status FROM tasks WHERE run_id=?", (run_id,))
    return {r["key"]: r["status"] for r in rows if r["status"] in FINISHED}


# --------------------------------------------------------------------------------------------------------------
# Running the CLI


def cli_command(folder: Path, replay: Path, store: Path, run_id: str | None, args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "tritonwright", "batch", str(folder), "--out", str(store), "--quiet"]
    if run_id:  # the run's recorded settings (device, stages, LLM) are used again
        cmd += ["--resume", run_id]
    else:
        # --no-cache: the replay file is the only source of replies, never a response cache left in the store
        cmd += ["--llm", f"replay:{replay}", "--device", args.device, "--no-cache"]
        if args.stages:
            cmd += ["--stages", args.stages]
    if args.workers:  # where jobs run is not part of a run's settings: given again on every resume
        cmd += ["--workers", str(args.workers)]
    return cmd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pid: int, wait: Any) -> str:
    """Ctrl-C-like: SIGINT to the CLI's process group, then SIGTERM, then SIGKILL; `wait(timeout)` is True once
    the CLI has exited. Returns the signal that ended it."""
    for sig, grace in ((signal.SIGINT, INTERRUPT_GRACE_S), (signal.SIGTERM, TERM_GRACE_S),
                       (signal.SIGKILL, TERM_GRACE_S)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return "exited"
        if wait(grace):
            return sig.name
    return "SIGKILL (still not gone)"


def stop_orphan(state: dict[str, Any], store: Path) -> None:
    """A CLI an earlier invocation started and could not stop (that invocation was killed itself) must not write
    the store beside the resumed one: stopped the same way, if it is still ours (its command line says so)."""
    pid = state.get("cli_pid")
    if not pid or not _alive(pid):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return
    if "tritonwright" not in cmdline or str(store) not in cmdline:  # the pid was reused by something else
        return
    print(f"an earlier invocation's CLI (pid {pid}) still runs: stopping it first", flush=True)

    def wait(timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not _alive(pid):
                return True
            time.sleep(POLL_S)
        return not _alive(pid)

    stop_group(pid, wait)


class _Stop(Exception):
    """SIGTERM to the benchmark: stop the CLI as for the budget, render, exit."""


def run_cli(cmd: list[str], out: Path, store: Path, state: dict[str, Any], deadline: float,
            log: Path) -> dict[str, Any]:
    """Run the CLI until it ends or the deadline passes; the new run's id is saved as soon as it exists."""
    before = run_ids(store) if not state.get("run_id") else set()
    env = os.environ | {"PYTHONUNBUFFERED": "1",
                        "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own group: the signals below reach it and nothing else
    state["cli_pid"] = proc.pid
    save_state(out, state)
    assert proc.stdout is not None
    stream = proc.stdout

    def pump() -> None:
        with open(log, "a", encoding="utf-8") as fh:
            for line in stream:
                fh.write(line)
                fh.flush()
                sys.stdout.write(line)
                sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def wait(timeout: float) -> bool:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    stopped = ""
    try:
        while proc.poll() is None:
            if not state.get("run_id"):
                new = sorted(run_ids(store) - before)
                if new:
                    state["run_id"] = new[-1]
                    save_state(out, state)
            if time.monotonic() >= deadline:
                print("budget reached: interrupting the batch (Ctrl-C), it stays resumable", flush=True)
                stopped = "budget: " + stop_group(proc.pid, wait)
                break
            time.sleep(POLL_S)
    except (KeyboardInterrupt, _Stop):
        stopped = "interrupted: " + stop_group(proc.pid, wait)
    proc.wait()
    reader.join(timeout=5)
    if not state.get("run_id"):
        new = sorted(run_ids(store) - before)
        state["run_id"] = new[-1] if new else None
    state.pop("cli_pid", None)
    return {"rc": proc.returncode, "stopped": stopped}


# --------------------------------------------------------------------------------------------------------------
# Collecting the results from the store


def _last_line(text: str | None) -> str:
    line = headline(text or "")
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 3] + "..."


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)


def _stamp_s(a: str | None, b: str | None) -> float | None:
    if not a or not b:
        return None
    return (_dt.datetime.fromisoformat(b) - _dt.datetime.fromisoformat(a)).total_seconds()


def _llm_rows(store: RunStore, run_id: str, key: str) -> list[sqlite3.Row]:
    # latency_s per call has no RunStore query (usage() sums tokens only): read the table directly
    return query(store.db_path, "SELECT step_key, status, answered, latency_s, input_tokens, output_tokens "
                 "FROM llm_calls WHERE run_id=? AND task_key=?", (run_id, key))


def phases(row: dict[str, Any], attempts: list[Any], calls: list[sqlite3.Row], resumed: bool, on_gpu: bool
           ) -> dict[str, Any]:
    """GPU and wall seconds per phase (definitions: DEFINITIONS); no GPU figures for a CPU run."""
    evaluated = [a for a in attempts if a.origin != "tuner" and a.result]
    eval_wall = sum(a.wall_s or 0.0 for a in evaluated)
    steps: dict[str, float] = {}
    for a in evaluated:
        for k, v in (a.result.get("step_seconds") or {}).items():
            if "." not in k:  # dotted names are parts of a step ("correctness.check"): not counted twice
                steps[k] = steps.get(k, 0.0) + v
    eval_gpu = sum(steps.values())
    tuner_s = sum(a.wall_s or 0.0 for a in attempts if a.origin == "tuner")
    llm_wall = sum(c["latency_s"] or 0.0 for c in calls)
    task_wall = row.get("wall_s")
    if task_wall is None:  # a failed task records no wall_s: its start and finish stamps (1 s resolution)
        task_wall = _stamp_s(row.get("started"), row.get("finished"))
    task_gpu = row.get("gpu_s")
    if resumed:  # a resumed task's wall_s and gpu_s cover only its last part: the remainder would be wrong
        task_wall = task_gpu = None
    other_wall = None if task_wall is None else task_wall - eval_wall - llm_wall - tuner_s
    other_gpu = None if task_gpu is None else task_gpu - eval_wall - tuner_s
    floor = row.get("floor") or {}

    def gpu(x: float) -> float | None:
        return _round(x) if on_gpu else None

    return {
        "evaluation": {"gpu_s": gpu(eval_gpu), "wall_s": _round(eval_wall), "sessions": len(evaluated)},
        "llm": {"gpu_s": 0.0 if on_gpu else None, "wall_s": _round(llm_wall), "calls": len(calls)},
        "tuner": {"gpu_s": gpu(tuner_s), "wall_s": _round(tuner_s),
                  "steps": sum(1 for a in attempts if a.origin == "tuner")},
        # negative when one session's wall is counted for several answers (--candidates K): not a figure then
        "other": {"gpu_s": _round(other_gpu) if other_gpu is None or other_gpu >= 0 else None,
                  "wall_s": _round(other_wall) if other_wall is None or other_wall >= 0 else None,
                  "floor_s": _round(floor.get("wall_s"))},
        "task": {"gpu_s": _round(task_gpu), "wall_s": _round(task_wall)},
        "eval_steps": {k: round(v, 3) for k, v in steps.items()},
    }


def floor_view(row: dict[str, Any]) -> dict[str, Any] | None:
    """The task's floor and the best as a multiple and a fraction of it; None when the run recorded none."""
    rec = row.get("floor")
    if not rec:
        return None
    fl = rec.get("floor") or {}
    if not rec.get("available") or not fl.get("ms"):
        return {"ms": None, "reason": _last_line(rec.get("reason"))}
    best_ms = (row.get("best") or {}).get("median_ms")
    ms = float(fl["ms"])
    return {"ms": ms, "limit": fl.get("limit"), "best_over_floor": _round(best_ms / ms, 4) if best_ms else None,
            "fraction": _round(ms / best_ms, 4) if best_ms else None}  # 1.0: at the speed-of-light floor


def origin_view(origin: dict[str, Any], key: str) -> dict[str, Any] | None:
    rec = origin.get(norm_key(key))
    if rec is None:
        return None
    return {"best_score": rec.get("best_score"), "best_runnable": rec.get("best_runnable"),
            "best_step": (rec.get("best") or {}).get("tritonwright_key"), "calls": rec.get("llm_calls"),
            "stages_run": rec.get("stages_run"), "seed_runnable": rec.get("seed_runnable")}


def step_view(a: Any) -> dict[str, Any]:
    return {"step": a.step_key, "stage": a.stage, "origin": a.origin, "status": a.status,
            "decision": str(a.decision.value if hasattr(a.decision, "value") else a.decision),
            "ms": _round(a.median_ms, 5), "reason": _last_line(a.reason),
            "decision_reason": _last_line(a.decision_reason)}


def task_view(store: RunStore, run_id: str, key: str, row: dict[str, Any] | None, resumed: bool,
              origin: dict[str, Any], on_gpu: bool) -> dict[str, Any]:
    if row is None:
        return {"key": key, "status": "not started", "origin": origin_view(origin, key)}
    attempts = store.attempts(run_id, key)
    calls = _llm_rows(store, run_id, key)
    best = row.get("best") or {}
    base = row.get("baselines") or {}
    final = next((a for a in attempts if a.step_key == "final"), None)
    best_step = next((a.step_key for a in attempts if best.get("candidate_id") and a.step_key != "final"
                      and a.candidate_id == best.get("candidate_id")), None)
    answered = sum(1 for c in calls if c["answered"] is None or c["answered"])  # NULL: a store before the column
    return {
        "key": key, "status": row["status"], "error": _last_line(row.get("error")), "resumed": resumed,
        "path": [step_view(a) for a in attempts],
        "end": {"status": row["status"], "final_status": final.status if final else None,
                "final_decision": step_view(final)["decision"] if final else None, "best_step": best_step},
        "best_ms": _round(best.get("median_ms"), 5), "eager_ms": _round(base.get("eager_ms"), 5),
        "compiled_ms": _round(base.get("compiled_ms"), 5), "vs_eager": _round(best.get("speedup_eager"), 4),
        "vs_compile": _round(best.get("speedup_compiled"), 4), "floor": floor_view(row),
        "phases": phases(row, attempts, calls, resumed, on_gpu),
        "llm": {"answered": answered, "refused": len(calls) - answered,
                "input_tokens": sum(c["input_tokens"] or 0 for c in calls),
                "output_tokens": sum(c["output_tokens"] or 0 for c in calls)},
        "origin": origin_view(origin, key),
    }


def find_leaks(store: RunStore, run_id: str, allowed: Iterable[str]) -> list[dict[str, str]]:
    """Every reason (attempts' reason and decision_reason, tasks' error) holding a judge frame or a temp path.
    The corpus and results folders are the user's own paths (a refused replay call names its file): masked."""
    masks = sorted({p for p in allowed if p and p != "/"}, key=len, reverse=True)
    temp = tempfile.gettempdir()
    patterns = list(LEAK_PATTERNS)
    if temp not in ("/tmp", "/var/tmp"):  # TMPDIR elsewhere: the harness's temp folders live there
        patterns.append((re.escape(temp.rstrip("/") + "/"), "a temp path"))
    found = []

    def check(task: str, step: str, field: str, text: str | None) -> None:
        if not text:
            return
        masked = text
        for m in masks:
            masked = masked.replace(m, "<user path>")
        for line in masked.splitlines():
            for pat, why in patterns:
                if re.search(pat, line):
                    found.append({"task": task, "step": step, "field": field, "why": why,
                                  "line": line.strip()[:REASON_CHARS]})
                    break

    for t in store.tasks(run_id):
        check(t["key"], "-", "task error", t.get("error"))
        for a in store.attempts(run_id, t["key"]):
            check(t["key"], a.step_key, "reason", a.reason)
            check(t["key"], a.step_key, "decision_reason", a.decision_reason)
    return found


def collect(out: Path, state: dict[str, Any], corpus: Path) -> dict[str, Any]:
    """results.json's content: the run's tasks (the selection's order), leaks, what remains, the parts."""
    store_dir = out / "store"
    origin_path = corpus / "origin.json"
    origin_doc = json.loads(origin_path.read_text()) if origin_path.is_file() else {}
    origin = {norm_key(k): v for k, v in (origin_doc.get("tasks") or {}).items()}
    keys = list(state.get("tasks") or [])
    run_id: str = state.get("run_id") or ""
    res: dict[str, Any] = {
        "benchmark": "replay", "corpus": str(corpus), "origin_source": origin_doc.get("source"),
        "origin_commit": origin_doc.get("commit"), "origin_note": ORIGIN_NOTE if origin_doc else None,
        "run_id": run_id or None, "run_status": None, "env": {}, "tasks": {}, "parts": state.get("parts", []),
        "leaks": {"count": 0, "items": []}, "definitions": DEFINITIONS,
    }
    store = RunStore(store_dir, create=False) if (store_dir / "runs.sqlite").is_file() and run_id else None
    try:
        rows: dict[str, dict[str, Any]] = {}
        if store is not None:
            run = store.run(run_id)
            res["run_status"], res["env"] = run["status"], run.get("env") or {}
            res["settings"] = {"device": run["config"].get("device"), "llm": run["config"].get("llm"),
                               "stages": (run["config"].get("optimize") or {}).get("stages")}
            rows = {t["key"]: t for t in store.tasks(run_id)}
            resumed = {k for p in state.get("parts", []) for k in p.get("resuming", [])}
            for key in keys:
                res["tasks"][key] = task_view(store, run_id, key, rows.get(key), key in resumed, origin,
                                              res["env"].get("device") == "cuda")  # the resolved device
            leaks = find_leaks(store, run_id, _allowed_paths(out, corpus))
            res["leaks"] = {"count": len(leaks), "items": leaks}
        else:
            res["tasks"] = {k: {"key": k, "status": "not started", "origin": origin_view(origin, k)} for k in keys}
    finally:
        if store is not None:
            store.close()
    res["remaining"] = [k for k in keys if res["tasks"][k]["status"] not in FINISHED]
    res["totals"] = totals(res["tasks"].values())
    return res


def combine(parts: list[dict[str, Any]], notes: list[str]) -> dict[str, Any]:
    """One results.json from several runs' results.json over the same corpus (a benchmark done in parts, e.g.
    the first tasks at an earlier commit and the rest later): each task comes from the last part that finished
    it, else the last that has it; `notes` say what each part was (its commit, its device session)."""
    if not parts:
        raise BenchError("--combine needs at least one results.json")
    if len(notes) > len(parts):
        raise BenchError(f"{len(notes)} --note for {len(parts)} results.json: one note per file, in order")
    for p in parts[1:]:
        if (p.get("corpus"), p.get("origin_commit")) != (parts[0].get("corpus"), parts[0].get("origin_commit")):
            raise BenchError("--combine: the results are of different corpora")
    res: dict[str, Any] = {k: parts[0].get(k) for k in ("benchmark", "corpus", "origin_source", "origin_commit",
                                                         "origin_note", "definitions")}
    res["runs"] = [{"run_id": p.get("run_id"), "run_status": p.get("run_status"), "env": p.get("env") or {},
                    "settings": p.get("settings") or {}, "parts": p.get("parts") or [],
                    "note": notes[i] if i < len(notes) else "",
                    "tasks": [k for k, v in p["tasks"].items() if v["status"] != "not started"]}
                   for i, p in enumerate(parts)]
    keys = list(dict.fromkeys(k for p in parts for k in p["tasks"]))  # first part's order, then new ones
    res["tasks"] = {}
    for key in keys:
        have = [(i, p["tasks"][key]) for i, p in enumerate(parts) if key in p["tasks"]]
        done = [x for x in have if x[1]["status"] in FINISHED]
        i, view = (done or [x for x in have if x[1]["status"] != "not started"] or have)[-1]
        res["tasks"][key] = view | {"run": parts[i].get("run_id")}
    items = [lk for i, p in enumerate(parts) for lk in (p.get("leaks") or {}).get("items", [])
             if res["tasks"].get(lk["task"], {}).get("run") == p.get("run_id")]
    res["leaks"] = {"count": len(items), "items": items}
    res["remaining"] = [k for k in keys if res["tasks"][k]["status"] not in FINISHED]
    res["totals"] = totals(res["tasks"].values())
    return res


def _allowed_paths(out: Path, corpus: Path) -> list[str]:
    paths = set()
    for p in (out, corpus):
        paths |= {str(p), str(p.resolve()), os.path.realpath(p)}
    return sorted(paths)


def totals(tasks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sums over the tasks that have each figure; `tasks` counts the tasks of each end status."""
    t: dict[str, Any] = {"status": {}, "phases": {}, "llm": {"answered": 0, "refused": 0}}
    for v in tasks:
        t["status"][v["status"]] = t["status"].get(v["status"], 0) + 1
        for ph, figs in (v.get("phases") or {}).items():
            if ph == "eval_steps":
                continue
            acc = t["phases"].setdefault(ph, {"gpu_s": None, "wall_s": None})
            for k in ("gpu_s", "wall_s"):
                if figs.get(k) is not None:
                    acc[k] = round((acc[k] or 0.0) + figs[k], 3)
        for k in ("answered", "refused"):
            t["llm"][k] += (v.get("llm") or {}).get(k, 0)
    return t


# --------------------------------------------------------------------------------------------------------------
# Rendering

DEFINITIONS = {
    "evaluation": "the evaluation sessions of the task's candidates (seed, repairs, stage answers, final check: "
                  "attempts not from the tuner that carry a result). wall = sum of attempts.wall_s (each session "
                  "start to end on its worker, its processes' start included); GPU = sum of the sessions' "
                  "result.step_seconds steps (load, correctness, integrity, timing, recheck, baselines): the "
                  "work inside, without the start of its processes",
    "llm": "the task's llm_calls, answered and refused: wall = sum of latency_s; no GPU time (the LLM runs "
           "elsewhere; replayed here, so its latency is near zero)",
    "tuner": "attempts with origin 'tuner' (a stage's tune path): GPU = wall = sum of their wall_s (screening, "
             "verification and the A/B comparison all hold the worker; the store has no finer split)",
    "other": "GPU = tasks.gpu_s (device time, GPU runs only) minus evaluation wall and tuner: ncu profiles, A/B "
             "comparisons of LLM changes and the floor measurement (floor_s in results.json); wall = the task's "
             "wall (tasks.wall_s, or finished - started for a failed task, 1 s resolution) minus evaluation wall, "
             "LLM and tuner: the same plus waits for a free worker and host work (prompts, code extraction, "
             "store). Empty for a task resumed after an interruption (its wall_s and gpu_s cover the last part "
             "only) and for GPU on a CPU run",
}


def _fx(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _num(v: float | None, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(res: dict[str, Any]) -> str:
    env = res.get("env") or {}
    tasks = res["tasks"]
    done = sum(1 for v in tasks.values() if v["status"] in FINISHED)
    runs = res.get("runs") or [{"run_id": res.get("run_id"), "run_status": res.get("run_status"), "env": env,
                                "settings": res.get("settings"), "parts": res.get("parts", []), "note": ""}]
    lines = [
        "# Replay benchmark: the LLM path over recorded replies", "",
        f"Corpus `{res['corpus']}`" + (f" (replies received by {res['origin_source']} at "
                                        f"{str(res.get('origin_commit'))[:12]})" if res.get("origin_source") else "")
        + "; " + ", ".join(f"run `{r.get('run_id')}` ({r.get('run_status') or 'not started'})" for r in runs)
        + f", {done}/{len(tasks)} tasks finished.", "",
        "## Environment", "",
    ]
    for r in runs:
        renv = r.get("env") or {}
        if len(runs) > 1:
            lines.append(f"### Run `{r.get('run_id')}`: {len(r.get('tasks') or [])} task(s)"
                         + (f"; {r['note']}" if r.get("note") else ""))
            lines.append("")
        lines += [f"- device {renv.get('device', '-')}, GPU {renv.get('gpu', '-')}, driver {renv.get('driver', '-')}",
                  f"- torch {renv.get('torch', '-')}, triton {renv.get('triton', '-')}, Python "
                  f"{renv.get('python', '-')}, tritonwright {renv.get('tritonwright', '-')}",
                  f"- settings: {json.dumps(r.get('settings') or {})}"]
        for i, p in enumerate(r.get("parts") or [], 1):
            lines.append(f"- part {i}: `{p['argv']}` ({p.get('wall_s')} s"
                         f"{', ' + p['stopped'] if p.get('stopped') else ''}); ran `{p.get('cli') or 'nothing'}`")
        if len(runs) > 1:
            lines.append("")
    lines += ["", "## Tasks", "",
              "Best ms is the final check's median; vs eager / vs torch.compile from the run's baselines. Of floor: "
              "the floor's time over the best's (1.0 = at the speed-of-light floor). Origin: " + ORIGIN_NOTE + ".",
              "",
              "| task | end | best from | final | best ms | vs eager | vs compile | of floor | LLM answered/refused "
              "| origin score | origin calls | origin best from |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, v in tasks.items():
        o = v.get("origin") or {}
        if v["status"] == "not started":
            lines.append(f"| {key} | not started |||||||| {_fx(o.get('best_score'))} | {o.get('calls', '-')} | "
                         f"{o.get('best_step') or '-'} |")
            continue
        end, fl, llm = v["end"], v.get("floor") or {}, v["llm"]
        # the floor's reason when there is none (no GPU, no traffic model) is in results.json
        frac = f"{fl['fraction']:.2f}" if fl.get("fraction") is not None else "none" if fl else "-"
        lines.append(f"| {key} | {v['status']} | {end.get('best_step') or '-'} | "
                     f"{end.get('final_status') or '-'} {end.get('final_decision') or ''} | "
                     f"{_num(v['best_ms'], '{:.4f}')} | {_fx(v['vs_eager'])} | {_fx(v['vs_compile'])} | {frac} | "
                     f"{llm['answered']}/{llm['refused']} | {_fx(o.get('best_score'))} | {o.get('calls', '-')} | "
                     f"{o.get('best_step') or '-'} |")
    lines += ["", "## Time per phase (seconds)", "",
              "| task | eval GPU | eval wall | LLM wall | tuner | other GPU | other wall | task GPU | task wall |",
              "|---|---|---|---|---|---|---|---|---|"]
    for key, v in tasks.items():
        ph = v.get("phases")
        if not ph:
            continue
        lines.append(f"| {key} | {_num(ph['evaluation']['gpu_s'])} | {_num(ph['evaluation']['wall_s'])} | "
                     f"{_num(ph['llm']['wall_s'], '{:.2f}')} | {_num(ph['tuner']['wall_s'])} | "
                     f"{_num(ph['other']['gpu_s'])} | {_num(ph['other']['wall_s'])} | {_num(ph['task']['gpu_s'])} | "
                     f"{_num(ph['task']['wall_s'])}{' (resumed)' if v.get('resumed') else ''} |")
    tp = res["totals"]["phases"]
    if tp:
        g = lambda ph, k: _num((tp.get(ph) or {}).get(k))  # noqa: E731 - one line per cell below
        lines.append(f"| **all** | {g('evaluation', 'gpu_s')} | {g('evaluation', 'wall_s')} | {g('llm', 'wall_s')} | "
                     f"{g('tuner', 'wall_s')} | {g('other', 'gpu_s')} | {g('other', 'wall_s')} | {g('task', 'gpu_s')} "
                     f"| {g('task', 'wall_s')} |")
    lines += [""] + [f"- **{k}**: {d}." for k, d in res["definitions"].items()]
    lines += ["", "## Verdict paths", "",
              "Each step: key (origin) status -> decision: decision reason; the last line of its reason."]
    for key, v in tasks.items():
        lines += ["", f"### {key}: {v['status']}" + (f" (run `{v['run']}`)" if len(runs) > 1 else ""), ""]
        for i, s in enumerate(v.get("path") or [], 1):
            why = "; ".join(x for x in (s["decision_reason"], s["reason"]) if x)
            ms = f", {s['ms']:.4f} ms" if s.get("ms") is not None else ""
            lines.append(f"{i}. `{s['step']}` ({s['origin']}) {s['status'] or '-'} -> {s['decision']}{ms}"
                         + (f": {why}" if why else ""))
        if v.get("error"):
            lines.append(f"- task error: {v['error']}")
        if not v.get("path") and not v.get("error"):
            lines.append("- no step recorded yet")
    leaks = res["leaks"]
    lines += ["", "## Leaks", "",
              "Reasons (attempts' reason and decision reason, tasks' error, in full) holding a frame of the judge's "
              "code or a temp path; the corpus and results folders are masked. Must be none.", ""]
    if not leaks["count"]:
        lines.append("None found.")
    for lk in leaks["items"]:
        lines.append(f"- {lk['task']} `{lk['step']}` ({lk['field']}, {lk['why']}): `{lk['line']}`")
    if res["remaining"]:
        lines += ["", "## Remaining", "",
                  f"{len(res['remaining'])} task(s) not finished: {', '.join(res['remaining'])}. Run the same command "
                  "again (same --out): it resumes the run."]
    return "\n".join(lines) + "\n"


def mask_paths(text: str, out: Path, corpus: Path) -> str:
    """The results folder and the corpus by name, not by this machine's absolute paths (results are committed)."""
    for path, name in sorted(((str(out), "$RESULTS"), (str(corpus), "$CORPUS")), key=lambda x: -len(x[0])):
        text = text.replace(path, name)
    return text


def write_results(out: Path, res: dict[str, Any], corpus: Path) -> None:
    (out / "results.json").write_text(mask_paths(json.dumps(res, indent=1), out, corpus))
    (out / "results.md").write_text(mask_paths(render(res), out, corpus))


# --------------------------------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="folder with tasks/, replay.jsonl and optionally origin.json")
    ap.add_argument("--out", required=True, help="results folder: state.json, store/, results.json, results.md")
    ap.add_argument("--device", default="cuda",  # the figures (ms, speedups, floors, GPU s) need a GPU
                    help="cuda | cpu (a new run only; a resumed one keeps its own)")
    ap.add_argument("--only", help="comma-separated task names (default: every task of the corpus)")
    ap.add_argument("--budget-s", type=float, default=DEFAULT_BUDGET_S,
                    help="interrupt the batch (resumable) after this many seconds of this invocation")
    ap.add_argument("--stages", help="the batch's --stages (default: all four; 'none': seed, repairs, final)")
    ap.add_argument("--workers", type=int, help="the batch's --workers (CPU runs: interpreter workers)")
    ap.add_argument("--render-only", action="store_true", help="run nothing: render what the store holds")
    ap.add_argument("--combine", nargs="+", metavar="RESULTS_JSON",
                    help="run nothing: merge these results.json (parts of one benchmark) into --out's results")
    ap.add_argument("--note", action="append", default=[],
                    help="with --combine, once per results.json in order: what that part was (commit, session)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    t0 = time.monotonic()
    args = parse(argv)
    out, corpus = Path(args.out).resolve(), Path(args.corpus).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.combine:
        try:
            parts = []
            for f in args.combine:
                try:
                    parts.append(json.loads(Path(f).read_text()))
                except (OSError, json.JSONDecodeError) as exc:
                    raise BenchError(f"--combine {f}: not a readable results.json ({exc})") from None
            res = combine(parts, args.note)
        except BenchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        write_results(out, res, corpus)
        print(f"{len(res['tasks']) - len(res['remaining'])}/{len(res['tasks'])} tasks finished over "
              f"{len(parts)} run(s); leaks: {res['leaks']['count']}; wrote {out / 'results.md'}", flush=True)
        return 0
    try:
        state = load_state(out)
        tasks = corpus_tasks(corpus)
        keys = pick(tasks, args.only)
        if state.get("run_id") and args.only and keys != state["tasks"]:
            raise BenchError(f"--only differs from the run in {out} ({', '.join(state['tasks'])}): use another --out")
        if state.get("run_id"):  # the run's selection; before there is a run, the latest --only counts
            keys = state["tasks"]
        missing = [k for k in keys if k not in tasks]
        if missing:
            raise BenchError(f"the run's task(s) {', '.join(missing)} are not in --corpus {corpus}")
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    state |= {"corpus": str(corpus), "tasks": keys}
    state.setdefault("parts", [])
    folder, replay = link_corpus(out, corpus, tasks, keys)
    store = out / "store"
    argv_text = shlex.join(["bench/replay_bench.py", *(sys.argv[1:] if argv is None else argv)])
    part: dict[str, Any] = {"argv": argv_text, "started": _dt.datetime.now(_dt.timezone.utc).isoformat(
        timespec="seconds"), "cli": None}
    old_term = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        raise _Stop()

    try:
        signal.signal(signal.SIGTERM, on_term)
        stop_orphan(state, store)
        before = finished_tasks(store, state.get("run_id"))
        # tasks a kill left interrupted or running: this part takes them up again (their times then cover it only)
        part["resuming"] = [k for k in _interrupted(store, state.get("run_id")) if k in keys]
        todo = [k for k in keys if k not in before]
        if args.render_only or not todo:
            print(f"{len(keys) - len(todo)}/{len(keys)} tasks finished; nothing to run", flush=True)
        elif time.monotonic() - t0 >= args.budget_s:
            print("no budget left to start the batch", flush=True)
        else:
            cmd = cli_command(folder, replay, store, state.get("run_id"), args)
            part["cli"] = shlex.join(cmd[2:])  # from `tritonwright batch ...` on
            print(f"{len(todo)}/{len(keys)} tasks to run: {part['cli']}", flush=True)
            logs = out / "logs"
            logs.mkdir(exist_ok=True)
            ran = run_cli(cmd, out, store, state, t0 + args.budget_s, logs / f"part-{len(state['parts']) + 1}.log")
            part |= ran
            after = finished_tasks(store, state.get("run_id"))
            part["finished_now"] = sorted(set(after) - set(before))
            part["interrupted"] = [k for k in _interrupted(store, state.get("run_id")) if k in keys]
    except _Stop:
        part["stopped"] = "SIGTERM before the batch started"
    finally:
        signal.signal(signal.SIGTERM, old_term)
        part["wall_s"] = round(time.monotonic() - t0, 1)
        state["parts"].append(part)
        save_state(out, state)
        res = collect(out, state, corpus)
        write_results(out, res, corpus)
    left = res["remaining"]
    print(f"run {state.get('run_id')}: {len(keys) - len(left)}/{len(keys)} tasks finished"
          + (f"; {len(left)} remain: run the same command again to resume" if left else "")
          + f"; leaks: {res['leaks']['count']}; wrote {out / 'results.md'}", flush=True)
    if part.get("rc") not in (None, 0) and not part.get("stopped"):  # the batch itself failed: say so to scripts
        print(f"the batch exited with code {part['rc']}: see {out / 'logs'}", file=sys.stderr)
        return 1
    return 0


def _interrupted(store: Path, run_id: str | None) -> list[str]:
    """Tasks the CLI left interrupted or running: a resumed run takes them up again (their times then cover only
    their last part)."""
    db = store / "runs.sqlite"
    if run_id is None or not db.is_file():
        return []
    return [r[0] for r in query(db, "SELECT key FROM tasks WHERE run_id=? AND status IN ('interrupted', 'running')",
                                (run_id,))]


if __name__ == "__main__":
    sys.exit(main())
