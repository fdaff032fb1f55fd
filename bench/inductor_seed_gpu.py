"""Inductor seed on a GPU: for each example, the generated module, the converted candidate and its verdict.

    PYTHONPATH=src python3 bench/inductor_seed_gpu.py --out "$OUT"

Writes $OUT/inductor_seed.tgz (per example: NAME.wrapper.py, NAME.seed.py, NAME.verdict.json, NAME.log) and
$OUT/inductor_seed.log (one line per example). Sizes are small so the whole run takes a few minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {  # small sizes: compile + judge in well under a minute each on an H200
    "elu": {"batch_size": "64", "dim": "4096"},
    "softmax": {"batch_size": "64", "dim": "1024"},
    "layernorm": {"batch_size": "64", "hidden": "1024"},
    "matmul_fp16": {"M": "256", "N": "256", "K": "256"},
    "gemm_bias_relu": {"batch_size": "128", "in_features": "256", "out_features": "256"},
    "conv_mish_bn": {"batch_size": "4", "in_channels": "8", "out_channels": "16", "height": "32", "width": "32"},
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from tritonwright.eval.runner import evaluate
    from tritonwright.eval.types import EvalConfig
    from tritonwright.inductor_seed import make_seed
    from tritonwright.task import load_task
    from tritonwright.tune.analysis import analyse
    from tritonwright.tune.plan import make_plan

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="inductor-seed-gpu-"))
    lines = []
    for name, sizes in SIZES.items():
        t0 = time.monotonic()
        verdict: dict[str, object] = {"example": name, "sizes": sizes}
        try:
            task = load_task(ROOT / "examples" / name / "task.py", sizes)
            seed = make_seed(task, args.device, workdir=work / name)
            (work / f"{name}.wrapper.py").write_text(seed.wrapper)
            (work / f"{name}.seed.py").write_text(seed.candidate.source)
            plan = make_plan(analyse(seed.candidate.source), "block_tiling")
            verdict.update(summary=seed.summary, tunable=[k.kernel for k in plan.kernels],
                           skipped=plan.skipped, seed_s=round(time.monotonic() - t0, 1))
            result = evaluate(task, seed.candidate, EvalConfig(device=args.device, trials=3))
            verdict.update(status=result.status.value, ok=result.ok, reason=result.reason,
                           result=result.to_dict() if hasattr(result, "to_dict") else None)
        except Exception as exc:  # one example failing must not hide the others' results
            verdict.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        verdict["wall_s"] = round(time.monotonic() - t0, 1)
        (work / f"{name}.verdict.json").write_text(json.dumps(verdict, indent=1, default=str))
        log = work / name / "inductor_seed.log"
        if log.is_file():
            (work / f"{name}.log").write_text(log.read_text())
        line = (f"{name}: ok={verdict.get('ok')} status={verdict.get('status', '-')} wall={verdict['wall_s']}s "
                f"tunable={verdict.get('tunable', '-')} {verdict.get('error') or verdict.get('reason') or ''}")
        print(line, flush=True)
        lines.append(line)
    (out / "inductor_seed.log").write_text("\n".join(lines) + "\n")
    with tarfile.open(out / "inductor_seed.tgz", "w:gz") as tar:
        for f in sorted(work.glob("*.*")):
            tar.add(f, arcname=f.name)
    return 0 if all("ok=True" in s for s in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
