#!/usr/bin/env bash
# Scale-out figures (issue 8): the example tasks as one no-LLM batch on one GPU, on two, and through Ray.
# Usage (repo root, on a machine with 2+ GPUs): bench/scaleout_gpu.sh CONFIG...   CONFIG: one | two | ray
# Every config starts from empty caches (Triton, inductor, baselines), so none profits from another's
# compiles. Writes $OUT/scaleout.jsonl (one line per config: wall time, tasks, statuses) and each run's logs.
set -u
OUT=${OUT:-bench/out}; mkdir -p "$OUT"
STAGES=${STAGES:-none}  # seed + final check per task: every job kind but the tuner's, in minutes not hours
if compgen -G ".whl/*.whl" > /dev/null; then  # Ray travels as wheels where no registry is reachable
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "${TMPDIR:-/tmp}/site" .whl/*.whl \
    && export PYTHONPATH="${TMPDIR:-/tmp}/site"
fi
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
for cfg in "$@"; do
  case "$cfg" in
    one) args=(--gpus 0) ;;
    two) args=(--gpus 0,1) ;;
    ray) args=(--executor ray) ;;
    *) echo "unknown config $cfg"; exit 2 ;;
  esac
  base=${TMPDIR:-/tmp}/scaleout-$cfg; rm -rf "$base"; mkdir -p "$base"
  export TRITON_CACHE_DIR=$base/triton TORCHINDUCTOR_CACHE_DIR=$base/inductor TRITONWRIGHT_CACHE_DIR=$base/tw
  s=$(python3 -c "import time; print(time.time())")
  timeout "${BATCH_TIMEOUT_S:-540}" python3 -m tritonwright batch examples --stages "$STAGES" --quiet --out "$base/runs" "${args[@]}" > "$OUT/$cfg.log" 2>&1
  rc=$?
  python3 - "$cfg" "$rc" "$s" "$base/runs" "$STAGES" "${args[*]}" >> "$OUT/scaleout.jsonl" <<'PY'
import json, sqlite3, sys, time
cfg, rc, start, runs, stages, args = sys.argv[1:]
con = sqlite3.connect(f"{runs}/runs.sqlite")
tasks = con.execute("SELECT key, status, wall_s, gpu_s FROM tasks ORDER BY key").fetchall()
env = json.loads(con.execute("SELECT env FROM runs").fetchone()[0] or "{}")
ex = env.get("executor", {})
print(json.dumps({"config": cfg, "args": args, "stages": stages, "rc": int(rc),
                  "wall_s": round(time.time() - float(start), 2), "batch_wall_s": ex.get("wall_s"),
                  "tasks": [{"key": k, "status": s, "wall_s": w, "gpu_s": g} for k, s, w, g in tasks],
                  "workers": [{k: sl[k] for k in ("name", "device", "jobs", "busy_s", "crashes", "state")}
                              for sl in ex.get("slots", [])]}))
PY
  tail -n 25 "$OUT/$cfg.log"
  tar czf "$OUT/$cfg-runs.tgz" -C "$base" runs
done
