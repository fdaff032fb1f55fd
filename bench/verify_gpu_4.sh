#!/usr/bin/env bash
# Issue 16 on the H200 (2026-12-04, sixth session), in one device command (~9 minutes):
#   1. the GPU tests of what changed: the ELU example racing torch.compile's code (seed and final check only),
#      and (with FLOOR_TEST=1) the seed ELU's floor stop with the race off;
#   2. whole no-LLM optimizes at KernelBench size, fresh caches (Triton, Inductor, tritonwright): ELU and
#      conv_mish_bn (both 0.97-0.98x torch.compile after tuning before the race), then softmax (47 s before
#      the tuner took the best's known median), and gemm_bias_relu (0.73x: cuBLAS in torch.compile's code).
# Usage on the device: OUT=$OUT bash bench/verify_gpu_4.sh [PARTS] ; PARTS: any of tests,elu,conv,softmax,gemm
# (default all); results in $OUT/verify4-PARTS.tgz and $OUT/device.txt.
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-tests,elu,conv,softmax}
FINAL=${OUT:-bench/results/verify-gpu-4}
mkdir -p "$FINAL"
OUT=$(mktemp -d)
source bench/device_header.sh  # secs, $OUT/device.txt
if [[ $PARTS == *tests* ]]; then
start=$(date +%s.%N)
timeout 200 python3 -m pytest -m gpu -v -s -p no:cacheprovider \
    "tests/test_race.py::test_the_elu_example_races_torch_compiles_code_on_the_gpu" \
    ${FLOOR_TEST:+"tests/test_floor.py::test_the_seed_elu_stops_at_its_floor_exactly_when_within_5_percent_of_it"} \
    > "$OUT/gpu_tests.log" 2>&1
echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d)
for name in elu conv softmax gemm; do
    [[ $PARTS == *$name* ]] || continue
    example=$name; [[ $name == conv ]] && example=conv_mish_bn; [[ $name == gemm ]] && example=gemm_bias_relu
    start=$(date +%s.%N)
    timeout ${OPT_TIMEOUT:-240} python3 -m tritonwright optimize examples/$example/task.py --from examples/$example/candidate.py \
        --out "$OUT/opt-$example" --quiet > "$OUT/optimize-$example.log" 2>&1
    echo "optimize $example (fresh caches) exit $? wall $(secs $start) s" >> "$OUT/device.txt"
done
tar czf "$FINAL/verify4-${PARTS//,/-}.tgz" -C "$OUT" --exclude='./opt-*/*/*/candidates' .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
