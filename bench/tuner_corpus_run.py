"""Do the launch tuner's rewrites of real LLM code compute what the code computed? Every distinct code block of a
corpus of recorded replies whose kernels the tuner can rewrite (bench/tuner_coverage.py counts them) is run in
Triton's interpreter on a small size of its task, beside the tuner's rewrites of it:

- `frozen-original`: every tuned kernel written at its own launch settings (must equal the original exactly);
- `frozen-alt-1`, `frozen-alt-2`: at two other configs of the coarse grid the search screens first (these may
  differ where the LLM's kernel assumes its sizes, e.g. no mask on K: the tuner's full check refuses such a
  config; the report keeps them apart from rewrite faults);
- `autotune`: the autotune-list rewrite over [original, alt-1, alt-2], each config pinned and run in turn
  (a kernel with atomics or in-place stores written at alt-2, as the tuner writes its winner).

    PYTHONPATH=src python3 bench/tuner_corpus_run.py --corpus ../shared/data/llm-replies [--out FILE.json]
        [--continue] [--work DIR] [--tasks 21_Sigmoid,...] [--timeout 600]

CPU only (TRITON_INTERPRET=1; tensors answer `is_cuda` with True, as LLM code asserts it). The rewritten files
hold the corpus's code, so they go to a temporary folder (or --work, which must be outside the repository);
--out gets counts, errors and the replies' keys only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `bench` is a package beside `src` (run as a script, bench/ is on the path)

from bench.tuner_coverage import CorpusError, code_replies  # noqa: E402

RUNNER = ROOT / "bench" / "run_variants.py"
# Each task's sizes for the interpreter, keyed by the replies' task names (a file name's trailing "_" dropped):
# small enough to run in seconds, multiples of the tile sizes LLM kernels assume (powers of two, like the
# KernelBench sizes), channel and group counts kept where a task's shape needs them.
SMALL: dict[str, dict[str, str]] = {
    "10_ConvTranspose2d_MaxPool_Hardtanh_Mean_Tanh": {"batch_size": "2", "in_channels": "4", "out_channels": "8",
                                                      "height": "8", "width": "8"},
    "1_Square_matrix_multiplication": {"N": "128"},
    "21_Sigmoid": {"batch_size": "4", "dim": "4096"},
    "27_Conv3d_HardSwish_GroupNorm_Mean": {"batch_size": "2", "depth": "6", "height": "8", "width": "8"},
    "27_SELU": {"batch_size": "4", "dim": "4096"},
    "2_ConvTranspose2d_BiasAdd_Clamp_Scaling_Clamp_Divide": {"batch_size": "2", "in_channels": "4",
                                                             "out_channels": "8", "height": "8", "width": "8"},
    "33_BatchNorm": {"batch_size": "2", "features": "4", "dim1": "16", "dim2": "16"},
    "33_Gemm_Scale_BatchNorm": {"batch_size": "64", "in_features": "128", "out_features": "128"},
    "39_L2Norm": {"batch_size": "4", "dim": "4096"},
    "55_conv_standard_2D__asymmetric_input__square_kernel": {"batch_size": "1", "height": "8", "width": "16",
                                                             "in_channels": "4", "out_channels": "8"},
    "5_Matrix_scalar_multiplication": {"M": "128", "N": "256"},
    "60_conv_standard_3D__square_input__asymmetric_kernel": {"batch_size": "1", "out_channels": "8", "width": "8",
                                                            "height": "8", "depth": "8"},
    "68_Matmul_Min_Subtract": {"batch_size": "64", "in_features": "128", "out_features": "128"},
    "6_Matmul_with_large_K_dimension": {"M": "64", "N": "64", "K": "1024"},
    "75_Gemm_GroupNorm_Min_BiasAdd": {"batch_size": "64", "in_features": "128", "out_features": "128",
                                      "num_groups": "8"},
    "79_Conv3d_Multiply_InstanceNorm_Clamp_Multiply_Max": {"batch_size": "2", "depth": "6", "height": "8",
                                                           "width": "8"},
    "85_Conv2d_GroupNorm_Scale_MaxPool_Clamp": {"batch_size": "2", "height": "16", "width": "16"},
    "88_MinGPTNewGelu": {"batch_size": "4", "dim": "4096"},
    "91_cumsum_reverse": {"batch_size": "4", "input_shape": "(4096,)"},
    "97_Matmul_BatchNorm_BiasAdd_Divide_Swish": {"batch_size": "64", "in_features": "128", "out_features": "128"},
}
CPU_UNRUNNABLE = {"97_ScaledDotProductAttention": "its get_inputs() makes CUDA tensors"}
EXACT = 0.0  # frozen at its own settings the code is the same kernel launched the same way: bit for bit
CLOSE = 1e-4  # a config's error relative to the output's magnitude: other tile sizes sum in another order


def blocks(corpus: Path, tasks: set[str] | None) -> list[dict[str, Any]]:
    """Distinct (task, code) pairs of the corpus, first reply key kept, with the tuner's usable plans."""
    from tritonwright.llm.extract import extract_model_code

    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for number, record in code_replies(corpus):
        task, text, step = str(record.get("task", "")), record["text"], str(record.get("step", ""))
        if tasks and task not in tasks:
            continue
        source = extract_model_code(text).source
        if source:
            key = (task, hashlib.sha256(source.encode()).hexdigest()[:12])
            seen.setdefault(key, {"task": task, "code": key[1], "reply": f"{step}/{record.get('attempt', 0)}",
                                  "line": number, "source": source})
    return list(seen.values())


def variants(source: str) -> tuple[dict[str, str], list[str], dict[str, Any]]:
    """The rewrites to run ({name: code}), the kernels they tune, and what was chosen (configs as labels)."""
    from tritonwright.tune import rewrite
    from tritonwright.tune.analysis import analyse
    from tritonwright.tune.search import TuneSettings, _usable_plans, plans_for
    from tritonwright.tune.space import build_space, coarse_grid, kernel_kind

    analysis = analyse(source)
    settings = TuneSettings(stage="launch")
    plans = _usable_plans(analysis, list(plans_for(analysis, "launch").kernels), settings, [])
    if not plans:
        return {}, [], {}
    original = {p.kernel: p.centres[0] for p in plans}
    alts: dict[str, list[Any]] = {}
    for p in plans:
        space = build_space(p, kernel_kind(analysis.kernels[p.kernel].node, p.uses_dot), "launch", settings.limits)
        grid, _ = coarse_grid(space, list(p.centres))
        others = [c for c in grid if c not in p.centres]
        # the nearest other config and the farthest the first grid holds: a small and a large step
        alts[p.kernel] = (others[:1] + others[-1:]) if len(others) > 1 else others or [p.centres[0]]
    pick = [{k: v[min(i, len(v) - 1)] for k, v in alts.items()} for i in range(2)]
    out = {"frozen-original": rewrite.freeze(analysis, plans, original)}
    for i, choice in enumerate(pick, 1):
        out[f"frozen-alt-{i}"] = rewrite.freeze(analysis, plans, choice)
    lists = {p.kernel: list(dict.fromkeys([*p.centres, *alts[p.kernel]])) for p in plans}
    out["autotune"] = rewrite.autotune(analysis, plans, lists, frozen=pick[1])
    chosen = {"original": {k: c.label for k, c in original.items()},
              "alt": [{k: c.label for k, c in choice.items()} for choice in pick]}
    return out, [p.kernel for p in plans], chosen


def verdict(name: str, err: float | str, scale: float | None, spread: float = 0.0) -> str:
    """ok | differs | fails, for one variant against the original's output; `spread`: how far the original is
    from itself (its other configs, a second call), which no rewrite can be held to beat."""
    if isinstance(err, str):
        return "fails"
    limit = (EXACT if name == "frozen-original" else CLOSE * max(1.0, scale or 0.0)) + spread
    return "ok" if err <= limit else "differs"


def run_block(block: dict[str, Any], task_path: Path, work: Path, timeout: float) -> dict[str, Any]:
    """Write the block's variants and run them with the original in one interpreter process."""
    from tritonwright.tune.edits import RewriteError

    folder = work / f"{block['task']}-{block['code']}"
    folder.mkdir(parents=True, exist_ok=True)
    row = {k: block[k] for k in ("task", "code", "reply", "line")}
    try:
        codes, kernels, chosen = variants(block["source"])
    except (RewriteError, SyntaxError) as exc:
        return {**row, "status": "not rewritten", "why": str(exc).splitlines()[0][:300]}
    if not codes:
        return {**row, "status": "not rewritten", "why": "no kernel the tuner can rewrite"}
    names = ["original", *codes]
    paths = [folder / "original.py"] + [folder / f"{n}.py" for n in codes]
    paths[0].write_text(block["source"])
    for p, code in zip(paths[1:], codes.values(), strict=True):
        p.write_text(code)
    job = folder / "job.json"
    job.write_text(json.dumps([{"task": str(task_path), "variants": [str(p) for p in paths]}]))
    env = dict(os.environ, TRITON_INTERPRET="1", TW_CUDA_SHIM="1")  # LLM code asserts x.is_cuda
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(RUNNER), str(job)], env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**row, "kernels": kernels, "status": "timeout", "why": f"over {timeout:g} s in the interpreter"}
    wall = round(time.perf_counter() - t0, 1)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1][:300]
        return {**row, "kernels": kernels, "status": "crashed", "why": tail, "wall_s": wall}
    (res,) = json.loads(lines[-1])
    errors = dict(zip(names, res["errors"], strict=True))
    if isinstance(errors["original"], str):
        return {**row, "kernels": kernels, "status": "original fails", "why": errors["original"], "wall_s": wall}
    if verdict("frozen-alt-1", res["self_error"], res["scale"]) != "ok":
        return {**row, "kernels": kernels, "status": "original unsteady", "wall_s": wall,
                "why": f"the original's own configs or a second call differ by {res['self_error']:.3g} "
                       f"(largest output {res['scale']}): it cannot judge a rewrite"}
    got = {n: verdict(n, errors[n], res["scale"], res["self_error"] or 0.0) for n in codes}
    return {**row, "kernels": kernels, "chosen": chosen, "status": "ran", "wall_s": wall,
            "original_vs_model": res["reference_vs_model"], "scale": res["scale"], "self_error": res["self_error"],
            "verdicts": got,
            "errors": {n: errors[n] for n in codes}, "pinned": dict(zip(names, res["pinned"], strict=True))}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ran = [r for r in rows if r["status"] == "ran"]
    by_variant: dict[str, Counter[str]] = {}
    for r in ran:
        for n, v in r["verdicts"].items():
            by_variant.setdefault(n, Counter())[v] += 1
    return {"blocks": len(rows), "status": dict(Counter(r["status"] for r in rows)),
            "variants": {n: dict(c) for n, c in by_variant.items()},
            "rewrite_faults": [r for r in ran if r["verdicts"]["frozen-original"] != "ok"
                               or r["verdicts"]["autotune"] == "fails"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="a folder with replay.jsonl and tasks/")
    ap.add_argument("--out", type=Path, help="write every block's result and the summary as JSON here")
    ap.add_argument("--work", type=Path, help="where the variants are written (default: a temporary folder)")
    ap.add_argument("--tasks", help="comma-separated task names (default: every task with a size in SMALL)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds for one block's interpreter process")
    ap.add_argument("--continue", dest="resume", action="store_true",
                    help="keep the blocks --out already holds (written after every block) and run the rest")
    args = ap.parse_args(argv)
    try:
        return _main(args)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    from bench.replay_bench import norm_key
    from tritonwright.errors import TaskError
    from tritonwright.task import load_task

    if not (args.corpus / "replay.jsonl").is_file():
        raise CorpusError(f"{args.corpus / 'replay.jsonl'} does not exist")
    if not (args.corpus / "tasks").is_dir():
        raise CorpusError(f"{args.corpus / 'tasks'} does not exist: the replies' tasks are run beside them")
    if args.timeout <= 0:
        raise CorpusError(f"--timeout {args.timeout:g}: must be > 0 seconds")
    if args.work and ROOT in args.work.resolve().parents:
        raise CorpusError("--work must be outside the repository: the variants hold the corpus's code")
    wanted = set(args.tasks.split(",")) if args.tasks else None
    unknown = sorted((wanted or set()) - set(SMALL) - set(CPU_UNRUNNABLE))
    if unknown:
        raise CorpusError(f"no small size for {', '.join(unknown)}: add it to SMALL")
    files = {norm_key(p.stem): p for p in sorted((args.corpus / "tasks").glob("*.py"))}
    work = args.work or Path(tempfile.mkdtemp(prefix="tuner-corpus-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.resume and not args.out:
        raise CorpusError("--continue needs --out: the file the earlier run wrote")
    done = _earlier(args.out) if args.resume else {}
    todo = blocks(args.corpus, wanted)
    rows: list[dict[str, Any]] = []
    tasks: dict[str, Path] = {}
    for i, block in enumerate(todo, 1):
        name = block["task"]
        row = {k: block[k] for k in ("task", "code", "reply", "line")}
        if (name, block["code"]) in done:
            rows.append(done[(name, block["code"])])
            continue
        if name in CPU_UNRUNNABLE or name not in SMALL or norm_key(name) not in files:
            why = CPU_UNRUNNABLE.get(name) or ("no small size in SMALL" if name not in SMALL else
                                               f"no task file for it in {args.corpus / 'tasks'}")
            rows.append({**row, "status": "not run", "why": why})
            continue
        if name not in tasks:
            try:
                task = load_task(files[norm_key(name)], SMALL[name])
            except TaskError as exc:
                raise CorpusError(str(exc)) from None
            tasks[name] = work / f"task-{name}.py"
            tasks[name].write_text(task.source)
        rows.append(run_block(block, tasks[name], work, args.timeout))
        r = rows[-1]
        print(f"[{i}/{len(todo)}] {name} {block['reply']}: {r['status']}"
              + (f" {r['verdicts']}" if r["status"] == "ran" else f" ({r.get('why', '')})"), flush=True)
        if args.out:  # after every block: a kill loses one block at most (--continue runs the rest)
            _write(args.out, rows, complete=False)
    got = summary(rows)
    print(json.dumps({k: v for k, v in got.items() if k != "rewrite_faults"}, indent=1))
    for r in got["rewrite_faults"]:
        print(f"rewrite fault: {r['task']} {r['reply']} (line {r['line']}): {r['verdicts']} {r['errors']}")
    if args.out:
        _write(args.out, rows, complete=True)
    return 0


def _write(out: Path, rows: list[dict[str, Any]], complete: bool) -> None:
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps({**summary(rows), "complete": complete, "rows": rows}, indent=1))
    tmp.replace(out)


def _earlier(out: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The rows an earlier run wrote to `out`, by (task, code); a timeout or a crash is run again."""
    if not out.is_file():
        return {}
    try:
        rows = json.loads(out.read_text())["rows"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise CorpusError(f"--continue: {out} is not what this script writes") from None
    return {(r["task"], r["code"]): r for r in rows if r.get("status") not in ("timeout", "crashed")}


if __name__ == "__main__":
    sys.exit(main())
