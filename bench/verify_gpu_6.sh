#!/usr/bin/env bash
# Issue 16 on the H200 (eighth session): the timing's cold call (the screen's figures), the worker's start
# beside its health check, the A/B's first look, compiler processes' import/compile seconds, kernel times:
#   tests:   GPU tests of the harness (A/A, the first look; tunetests: the tuner's too);
#   softmax: the no-LLM optimize at KernelBench size on fresh caches, then again on the caches it left
#            (a user's second run); norace: softmax with --no-race on fresh caches; conv: conv_mish_bn, fresh;
#   tune:    tune_bench's inductor:softmax case with compiler processes off (1) and on (0).
# Usage on the device: OUT=$OUT bash bench/verify_gpu_6.sh [PARTS] ; PARTS: any of tests,tunetests,softmax,
# norace,conv,tune
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-tests,softmax}
FINAL=${OUT:-bench/results/verify-gpu-6}
mkdir -p "$FINAL"
OUT=$(mktemp -d)
source bench/device_header.sh  # secs, $OUT/device.txt
has() { [[ ,$PARTS, == *,$1,* ]]; }  # whole names: "tunetests" is not "tune"
if has tests || has tunetests; then
    start=$(date +%s.%N)
    timeout 280 python3 -m pytest -m gpu -v -p no:cacheprovider --durations=0 tests/test_eval_gpu.py \
        $(has tunetests && echo tests/test_tune_gpu.py) > "$OUT/gpu_tests.log" 2>&1
    echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
optimize() {  # example, log name, extra optimize flags
    local start
    start=$(date +%s.%N)
    # each line stamped with the wall clock (the first line: the start), so the time before the run's own log
    # starts (imports) and after its last line (reports, the workers' shutdown) shows too
    timeout ${OPT_TIMEOUT:-200} python3 -m tritonwright optimize examples/$1/task.py --from examples/$1/candidate.py \
        --out "$OUT/opt-$2" --quiet ${3:-} 2>&1 | (echo "$start start"; while IFS= read -r line; do
            echo "$(date +%s.%N) $line"; done; echo "$(date +%s.%N) end") > "$OUT/optimize-$2.log"
    echo "optimize $2 exit ${PIPESTATUS[0]} wall $(secs $start) s" >> "$OUT/device.txt"
}
export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
if has softmax; then
    optimize softmax softmax-fresh
    optimize softmax softmax-warm  # the caches the first run filled
fi
if has norace; then
    export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
    optimize softmax softmax-norace-fresh --no-race
fi
if has conv; then
    export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
    optimize conv_mish_bn conv-fresh
fi
has tune && for procs in 1 0; do
    start=$(date +%s.%N)
    TRITON_CACHE_DIR=$(mktemp -d) timeout 150 python3 bench/tune_bench.py --out "$OUT/tune-procs-$procs" \
        --only inductor:softmax --no-exhaustive --compile-processes $procs > "$OUT/tune-procs-$procs.log" 2>&1
    echo "tune inductor:softmax compile-processes $procs exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
tar czf "$FINAL/verify6-${PARTS//,/-}.tgz" -C "$OUT" --exclude='./opt-*/*/*/candidates' .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
