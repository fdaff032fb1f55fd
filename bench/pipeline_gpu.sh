#!/usr/bin/env bash
# GPU figures for the harness, tuner and optimizer issues. Usage: bench/pipeline_gpu.sh PART (a or b).
# Run from the repo root on the GPU machine; writes under ${OUT:-bench/out}.
set -u
OUT=${OUT:-bench/out}; mkdir -p "$OUT"
RUNS=${RUNS:-${TMPDIR:-/tmp}/tw-runs}
export PYTHONPATH=src PYTHONUNBUFFERED=1 TRITONWRIGHT_CACHE_DIR=${TRITONWRIGHT_CACHE_DIR:-${TMPDIR:-/tmp}/tw-cache}
tw() { python3 -m tritonwright "$@"; }
clock() { python3 -c "import time; print(f'{time.time():.3f}')"; }
since() { python3 -c "import time; print(round(time.time() - $1, 1))"; }
case "${1:-a}" in
a)
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  tw gpus --detect 2>&1 | tee "$OUT/gpus_detect.txt"
  for pass in 1 2; do
    s=$(clock); tw eval examples/elu/task.py examples/elu/candidate.py --json "$OUT/elu_eval_$pass.json"
    echo "== elu eval pass $pass: $(since "$s") s"
  done
  s=$(clock); tw eval examples/conv_mish_bn/task.py examples/conv_mish_bn/candidate.py \
    --json "$OUT/mish_eval.json"; echo "== mish eval: $(since "$s") s"
  s=$(clock); tw optimize examples/elu/task.py --from examples/elu/candidate.py --out "$RUNS" --quiet
  echo "== optimize elu: $(since "$s") s"
  ;;
b)
  for pass in 1 2; do
    s=$(clock); tw eval examples/elu/task.py examples/elu/candidate.py --json "$OUT/elu_eval_b$pass.json"
    echo "== elu eval pass $pass: $(since "$s") s"
  done
  s=$(clock); tw optimize examples/conv_mish_bn/task.py --from examples/conv_mish_bn/candidate.py \
    --out "$RUNS" --quiet; echo "== optimize conv_mish_bn: $(since "$s") s"
  ;;
esac
for r in $(ls "$RUNS" 2>/dev/null | grep -v sqlite | grep -v cache); do tw show "$r" --out "$RUNS"; done
tar czf "$OUT/runs_${1:-a}.tgz" -C "$(dirname "$RUNS")" "$(basename "$RUNS")"
