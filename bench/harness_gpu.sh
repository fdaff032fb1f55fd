#!/usr/bin/env bash
# Harness figures for the closing note of the evaluation issue; run on the GPU machine from the repo root.
# Writes JSON verdicts and logs under ${OUT:-bench/out}.
set -u
OUT=${OUT:-bench/out}; mkdir -p "$OUT"
export PYTHONPATH=src PYTHONUNBUFFERED=1 TRITONWRIGHT_CACHE_DIR=${TRITONWRIGHT_CACHE_DIR:-${TMPDIR:-/tmp}/tw-cache}
tw() { python3 -m tritonwright "$@"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__, 'cuda', torch.version.cuda)"
for ex in elu conv_mish_bn; do
  for pass in cold warm; do
    s=$(date +%s.%N)
    tw eval examples/$ex/task.py examples/$ex/candidate.py --json "$OUT/${ex}_${pass}.json"; rc=$?
    echo "== $ex $pass: eval wall $(python3 -c "import time; print(round(time.time() - $s, 1))") s (exit $rc)"
  done
done
python3 bench/harness_aa.py examples/elu/task.py examples/elu/candidate.py --json "$OUT/elu_aa.json"
