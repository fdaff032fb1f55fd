#!/usr/bin/env bash
# Issue 16 on the H200 (2026-12-04, fifth session), in one device command (~8 minutes):
#   1. the GPU tests of what changed: the screen's precompile pass (threads 1 and 4, a config that fails to
#      compile, an LLM-style fallback), the floor brought by an evaluation's reference process, and the seed ELU
#      stopping at its floor (the floor now from the seed's evaluation, ceilings measured there);
#   2. the tuner on llm:softsign_branch_warps (27 configs screened) with the configs compiled one by one
#      (--compile-threads 1) and on the default threads, each with an empty Triton cache (a fair first compile);
#   3. the whole no-LLM optimize of the softmax example at KernelBench size, fresh (empty Triton, Inductor and
#      tritonwright caches) and again with those caches warm (goal <= 60 s; 66.8 s / 54.0 s before).
# Usage on the device: OUT=$OUT bash bench/verify_gpu_3.sh [PARTS] ; PARTS: any of tests,tune,optimize (default
# all three); results in $OUT/verify3-PARTS.tgz and $OUT/device.txt.
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-tests,tune,optimize}
FINAL=${OUT:-bench/results/verify-gpu-3}
mkdir -p "$FINAL"
OUT=$(mktemp -d)
source bench/device_header.sh  # secs, $OUT/device.txt
if [[ $PARTS == *tests* ]]; then
start=$(date +%s.%N)
timeout 240 python3 -m pytest -m gpu -v -p no:cacheprovider \
    "tests/test_tune_gpu.py::test_screening_compiles_configs_ahead_on_threads_and_keeps_failures_apart" \
    "tests/test_tune_gpu.py::test_screening_times_each_config_and_keeps_failures_apart" \
    "tests/test_floor.py::test_an_evaluation_brings_the_same_floor_from_its_reference_process" \
    "tests/test_floor.py::test_the_seed_elu_stops_at_its_floor_exactly_when_within_5_percent_of_it" \
    > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
timeout 60 python3 -m pytest -v -p no:cacheprovider tests/test_precompile.py tests/test_eval_protocol.py \
    > "$OUT/triton36_tests.log" 2>&1  # the precompile hook against this Triton's async compile mode
echo "precompile + protocol tests on this triton exit $?" >> "$OUT/device.txt"
fi
[[ $PARTS == *tune* ]] && for threads in 1 0; do
    start=$(date +%s.%N)
    TRITON_CACHE_DIR=$(mktemp -d) timeout 110 python3 bench/tune_bench.py --out "$OUT/tune-threads-$threads" \
        --only llm:softsign_branch_warps --no-exhaustive --compile-threads $threads > "$OUT/tune-threads-$threads.log" 2>&1
    echo "tune softsign compile-threads $threads exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
[[ $PARTS == *optimize* ]] && for run in fresh warm; do
    start=$(date +%s.%N)
    timeout 95 python3 -m tritonwright optimize examples/softmax/task.py --from examples/softmax/candidate.py \
        --out "$OUT/opt-$run" --quiet > "$OUT/optimize-$run.log" 2>&1
    echo "optimize softmax ($run) exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
tar czf "$FINAL/verify3-${PARTS//,/-}.tgz" -C "$OUT" --exclude='./opt-*/*/*/candidates' .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
