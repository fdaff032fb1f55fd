#!/usr/bin/env bash
# Issue 16 on the H200 (seventh session): a screen's configs compiled in compiler processes, one screening
# session per search, the race's tuner pass without its own A/B, the Inductor seed from the fork server; in one
# device command (~8 minutes with tests,softmax,conv):
#   tests:   the tuner's GPU tests (screening with threads / compiler processes / neither, the cutoff), the
#            race's and the Inductor seed's GPU tests, and the CPU tests of both precompile passes and the
#            protocol against this Triton;
#   tune:    the softsign tuner case with compiler processes off (1) and on (0: the default), each on an empty
#            Triton cache (the screen's seconds: bench/tune_bench.py's JSON);
#   softmax, elu, conv, gemm: whole no-LLM optimizes at KernelBench size, fresh caches, race on.
# Usage on the device: OUT=$OUT bash bench/verify_gpu_5.sh [PARTS] ; PARTS: any of tests,tune,softmax,elu,conv,gemm
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-tests,tune,softmax}
FINAL=${OUT:-bench/results/verify-gpu-5}
mkdir -p "$FINAL"
OUT=$(mktemp -d)
source bench/device_header.sh  # secs, $OUT/device.txt
if [[ $PARTS == *tests* ]]; then
start=$(date +%s.%N)
timeout 300 python3 -m pytest -m gpu -v -p no:cacheprovider tests/test_tune_gpu.py tests/test_inductor_seed.py \
    "tests/test_race.py::test_the_elu_example_races_torch_compiles_code_on_the_gpu" \
    > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
timeout 100 python3 -m pytest -v -p no:cacheprovider tests/test_precompile.py tests/test_eval_protocol.py \
    > "$OUT/triton_tests.log" 2>&1  # both passes and the messages, against this Triton
echo "precompile + protocol tests on this triton exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
[[ $PARTS == *tune* ]] && for procs in 1 0; do
    start=$(date +%s.%N)
    TRITON_CACHE_DIR=$(mktemp -d) timeout 110 python3 bench/tune_bench.py --out "$OUT/tune-procs-$procs" \
        --only llm:softsign_branch_warps --no-exhaustive --compile-processes $procs > "$OUT/tune-procs-$procs.log" 2>&1
    echo "tune softsign compile-processes $procs exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
for name in softmax elu conv gemm; do
    [[ $PARTS == *$name* ]] || continue
    example=$name; [[ $name == conv ]] && example=conv_mish_bn; [[ $name == gemm ]] && example=gemm_bias_relu
    start=$(date +%s.%N)
    timeout ${OPT_TIMEOUT:-200} python3 -m tritonwright optimize examples/$example/task.py --from examples/$example/candidate.py \
        --out "$OUT/opt-$example" --quiet > "$OUT/optimize-$example.log" 2>&1
    echo "optimize $example (fresh caches) exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
tar czf "$FINAL/verify5-${PARTS//,/-}.tgz" -C "$OUT" --exclude='./opt-*/*/*/candidates' .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
