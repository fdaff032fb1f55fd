"""`python bench/run.py [--quick|--full] [--only quality,trust,cost] [--out bench/results]`: run the jobs of
bench/plan.py one at a time (each in its own process, with a timeout), keep every outcome, and write
results.json, results.md and quality.png under OUT/<date>-<gpu>/ after each job.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import plan, report
from bench.monitor import run_job

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = 1  # results.json layout version: bump when a reader must change
LOG_TAIL_KEEP = 12  # lines of a failed job's log kept in results.json (the rest is in logs.tgz)


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, 10 decisions per trust test (smoke run)")
    size.add_argument("--full", action="store_true", help="KernelBench sizes everywhere, no time budget")
    ap.add_argument("--only", default=",".join(plan.SECTIONS), help="comma-separated: quality,trust,cost")
    ap.add_argument("--out", default="bench/results", help="results root; a <date>-<gpu> folder is made in it")
    ap.add_argument("--budget-s", type=float, default=None, help="override the mode's time budget (0: none)")
    mat = ap.add_mutually_exclusive_group()
    mat.add_argument("--max-autotune", dest="max_autotune", action="store_true", default=None,
                     help="also time torch.compile(mode='max-autotune') (minutes per task; on with --full)")
    mat.add_argument("--no-max-autotune", dest="max_autotune", action="store_false")
    ap.add_argument("--examples", default=",".join(plan.EXAMPLES), help="comma-separated subset of examples")
    ap.add_argument("--work", default=None, help="keep job specs, outputs and logs here (default: a temp dir)")
    ap.add_argument("--continue", dest="cont", default=None, metavar="RESULTS",
                    help="results folder (or results.json) of an earlier run on this GPU model: keep its finished "
                         "jobs and run only the others (a full suite over several 10-minute device commands)")
    ap.add_argument("--redo", default="", help="with --continue: comma-separated job names to run again, e.g. trust")
    return ap.parse_args(argv)


def _finished(entry: dict[str, Any] | None, max_autotune: bool) -> bool:
    """A job an earlier part already measured: ok, and with max-autotune figures when they are asked for."""
    if not entry or entry.get("status") != "ok":
        return False
    if entry.get("kind") == "quality_eval" and max_autotune:
        return bool((entry.get("result") or {}).get("max_autotune"))
    return True


def _load_earlier(path: str) -> dict[str, Any]:
    p = Path(path)
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
        raise SystemExit(f"--continue {path}: no results.json there")
    earlier = json.loads(p.read_text(encoding="utf-8"))
    if earlier.get("schema") != SCHEMA:
        raise SystemExit(f"--continue {path}: results schema {earlier.get('schema')}, this suite writes {SCHEMA}")
    return earlier


def _spec(job: plan.Job, mode: plan.Mode, max_autotune: bool, work: Path) -> dict[str, Any]:
    e = job.example
    base = {"task": f"examples/{e}/task.py", "candidate": f"examples/{e}/candidate.py",
            "overrides": dict(job.overrides)} if e else {}
    if job.kind == "ceilings":
        return {"matmul_dtypes": ["float16", "float32"]}
    if job.kind == "quality_eval":
        return base | {"max_autotune": max_autotune}
    if job.kind == "quality_tune":
        return base | {"winners_json": str(work / f"tune_{e}_winners.json"), "tuned_path": str(work / f"tuned_{e}.py")}
    if job.kind == "trust":
        return base | {"decisions": mode.trust_decisions, "threshold": plan.THRESHOLD, "rounds": plan.ROUNDS,
                       "slowdowns": [[t, mode.slowed_decisions[t]] for t in plan.SLOWDOWNS], "timing": dict(mode.trust_timing)}
    return base


def _command(job: plan.Job, spec: dict[str, Any], work: Path) -> list[str]:
    py = sys.executable
    if job.kind == "optimize":
        sets = [x for k, v in job.overrides.items() for x in ("--set", f"{k}={v}")]
        return [py, "-m", "tritonwright", "optimize", spec["task"], "--from", spec["candidate"],
                "--out", str(work / "runs"), "--quiet", *sets]
    if job.kind == "sweep":
        return [py, plan.SWEEP_SCRIPT, spec["candidate"], str(work / f"tune_{job.example}_winners.json"),
                str(work / f"{_slug(job.name)}.out.json")]
    spec_path = work / f"{_slug(job.name)}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1), encoding="utf-8")
    return [py, "-m", "bench.jobs", job.kind, str(spec_path), str(work / f"{_slug(job.name)}.out.json")]


def _slug(name: str) -> str:
    return name.replace(":", "_")


def _env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["TRITONWRIGHT_CACHE_DIR"] = str(work / "cache")  # fresh baseline cache: every figure measured in this run
    return env


def _run_one(job: plan.Job, mode: plan.Mode, max_autotune: bool, work: Path, timeout_s: float) -> dict[str, Any]:
    spec = _spec(job, mode, max_autotune, work)
    cmd = _command(job, spec, work)
    jr = run_job(cmd, timeout_s, work / "logs" / f"{_slug(job.name)}.log", env=_env(work), cwd=str(ROOT))
    entry: dict[str, Any] = {"kind": job.kind, "example": job.example, "overrides": dict(job.overrides),
                             "sections": sorted(job.sections), **jr.to_dict()}
    out_path = work / f"{_slug(job.name)}.out.json"
    if out_path.is_file():
        entry["result"] = json.loads(out_path.read_text(encoding="utf-8"))
        inner = entry["result"].get("status")
        if jr.status == "ok" and inner not in (None, "ok"):  # the job ran, but what it measured failed
            entry["status"], entry["reason"] = "failed", entry["result"].get("reason", "")
    elif jr.status == "ok" and job.kind not in ("optimize",):
        entry["status"], entry["reason"] = "failed", "the job wrote no result"
    # Results are committed: the work folder (a temp path of the GPU machine) is written as $WORK.
    tail = [line.replace(str(work), "$WORK") for line in jr.log_tail[-LOG_TAIL_KEEP:]]
    entry["log_tail"] = tail if entry["status"] != "ok" or job.kind == "optimize" else []
    return entry


def _results_dir(out_root: Path, results: dict[str, Any]) -> Path:
    gpu = (results.get("env") or {}).get("gpu")
    return out_root / f"{results['date']}-{report.gpu_tag(gpu)}"


def _write(out_root: Path, results: dict[str, Any]) -> Path:
    folder = _results_dir(out_root, results)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False), encoding="utf-8")
    (folder / "results.md").write_text(report.render_markdown(results), encoding="utf-8")
    report.plot_quality(results, folder / "quality.png")
    return folder


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    mode = plan.QUICK if a.quick else plan.FULL if a.full else plan.DEFAULT
    sections = frozenset(s.strip() for s in a.only.split(",") if s.strip())
    bad = sections - set(plan.SECTIONS) or {e for e in a.examples.split(",") if e not in plan.EXAMPLES}
    if bad:
        print(f"unknown section or example: {', '.join(sorted(bad))}", file=sys.stderr)
        return 2
    examples = tuple(e for e in plan.EXAMPLES if e in a.examples.split(","))
    budget = mode.budget_s if a.budget_s is None else a.budget_s
    max_autotune = mode.max_autotune if a.max_autotune is None else a.max_autotune
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="tw-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out_root = Path(a.out)
    t0 = time.monotonic()
    results: dict[str, Any] = {
        "schema": SCHEMA, "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "mode": mode.name,
        "command": "PYTHONPATH=src python3 bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "sections": sorted(sections), "budget_s": budget, "max_autotune": max_autotune, "env": None,
        "ceilings": None, "jobs": {}, "quoted": report.load_quoted(), "wall_s": 0.0}
    redo = {r.strip() for r in a.redo.split(",") if r.strip()}
    if redo and not a.cont:
        print("--redo needs --continue", file=sys.stderr)
        return 2
    part = 1
    if a.cont:
        earlier = _load_earlier(a.cont)
        part = len(earlier["parts"]) + 1 if earlier.get("parts") else 2
        # The earlier part's date, environment and ceilings stay: floors of all parts use one measurement.
        results |= {k: earlier[k] for k in ("date", "env", "ceilings") if earlier.get(k)}
        results["sections"] = sorted(set(earlier.get("sections", [])) | sections)
        results["max_autotune"] = bool(earlier.get("max_autotune")) or max_autotune
        results["parts"] = [*earlier.get("parts", [{"command": earlier.get("command"), "wall_s": earlier.get("wall_s")}]),
                            {"command": results["command"], "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")}]
        results["command"] = earlier.get("command")
        kept = {n: e for n, e in earlier.get("jobs", {}).items() if n not in redo and _finished(e, max_autotune)}
        results["jobs"] = dict(kept)
        print(f"continuing {a.cont}: {len(kept)} finished job(s) kept", flush=True)
    folder = None
    for job in plan.jobs_for(mode, sections, examples):
        if job.name in results["jobs"]:
            continue
        if job.kind == "ceilings" and results.get("ceilings"):
            continue
        left = budget - (time.monotonic() - t0) if budget else float("inf")
        if left < job.estimate_s:
            results["jobs"][job.name] = {"kind": job.kind, "example": job.example, "overrides": dict(job.overrides),
                                         "sections": sorted(job.sections), "status": "skipped",
                                         "reason": f"time budget: {max(left, 0):.0f} s left of {budget:g} s, "
                                                   f"the job needs about {job.estimate_s:g} s"}
            print(f"[{time.monotonic() - t0:6.1f} s] {job.name}: skipped (budget)", flush=True)
            continue
        print(f"[{time.monotonic() - t0:6.1f} s] {job.name} ...", flush=True)
        entry = _run_one(job, mode, max_autotune, work, min(job.cap_s, left))
        results["jobs"][job.name] = entry
        if job.kind == "ceilings" and entry["status"] == "ok":
            results["env"] = entry["result"]["env"] | {"total_memory_mib": entry["result"]["total_memory_mib"]}
            results["ceilings"] = {"copy": entry["result"]["copy"], "matmul": entry["result"]["matmul"]}
        print(f"[{time.monotonic() - t0:6.1f} s] {job.name}: {entry['status']} in {entry['wall_s']:.1f} s"
              + (f" ({entry['reason'][:200]})" if entry.get("reason") else ""), flush=True)
        results["wall_s"] = round(time.monotonic() - t0, 1)
        folder = _write(out_root, results)
    results["wall_s"] = round(time.monotonic() - t0, 1)
    if part > 1:
        results["parts"][-1]["wall_s"] = results["wall_s"]
    folder = _write(out_root, results)
    if (work / "logs").is_dir():
        with tarfile.open(folder / ("logs.tgz" if part == 1 else f"logs-{part}.tgz"), "w:gz") as tar:
            tar.add(work / "logs", arcname="logs")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    print((folder / "results.md").read_text(encoding="utf-8"))
    print(f"wrote {folder}")
    return 0
