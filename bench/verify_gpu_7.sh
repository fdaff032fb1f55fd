#!/usr/bin/env bash
# Issue 16 on the H200 (ninth session): what is left between 77 s and 60 s for a fresh no-LLM optimize.
#   probe:   eval.cuda_probe's answer against torch.cuda.is_available() (also with CUDA_VISIBLE_DEVICES hiding
#            the GPU), and the driver's imports (bench/driver_imports.py);
#   profile: bench/session_profile.py on softmax, fresh caches: every request of 3 evaluations and 2 A/Bs, and
#            torch.compile's code made from the baseline's capture and by its own compile (--seeds); an autotune
#            list of 4 configs loaded with and without Triton's autotune cache (--tuned 4); the tuner's
#            verification budget against the full timing (--verify) (the last two: tenth session);
#   tests:   GPU tests of the harness (tunetests: the tuner's too);
#   softmax: the no-LLM optimize at KernelBench size on fresh caches, then again on the caches it left;
#   norace:  softmax with --no-race on fresh caches; conv: conv_mish_bn, fresh;
#   others:  elu, layernorm, matmul_fp16 and gemm_bias_relu, each fresh (the 60 s goal on every example);
#   tunebench: bench/tune_bench.py on the idioms the tuner learnt in the tenth session and matmul_fp16 (GROUP_M
#            now searched); exhaustive capped at 48; to finish what a call left, bring its tunebench folder
#            into the tree and run the part again with TUNEBENCH_CONTINUE=that folder.
# Usage on the device: OUT=$OUT bash bench/verify_gpu_7.sh [PARTS]
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-probe,profile}
FINAL=${OUT:-bench/results/verify-gpu-7}
mkdir -p "$FINAL"
OUT=$(mktemp -d)
source bench/device_header.sh  # secs, has, fresh, optimize, $OUT/device.txt
if has probe; then
    for vis in unset "" "-1" "0"; do
        if [[ $vis == unset ]]; then unset CUDA_VISIBLE_DEVICES; else export CUDA_VISIBLE_DEVICES=$vis; fi
        python3 -c "from tritonwright.eval import cuda_probe as c; import time; t=time.perf_counter(); p=c.cuda_available(); \
t=time.perf_counter()-t; import torch; print('CUDA_VISIBLE_DEVICES=$vis probe', p, f'{t:.3f} s', 'torch', torch.cuda.is_available(), \
c.torch_build(), c.driver_devices())" >> "$OUT/device.txt" 2>&1
    done
    unset CUDA_VISIBLE_DEVICES
fi
if has profile; then
    fresh
    start=$(date +%s.%N)
    timeout 240 python3 bench/session_profile.py --out "$OUT/profile" --seeds --tuned 4 --verify > "$OUT/profile.log" 2>&1
    echo "profile exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
if has tests || has tunetests; then
    start=$(date +%s.%N)
    timeout 280 python3 -m pytest -m gpu -v -p no:cacheprovider --durations=0 tests/test_eval_gpu.py \
        tests/test_cuda_probe.py tests/test_inductor_capture.py \
        $(has tunetests && echo tests/test_tune_gpu.py) > "$OUT/gpu_tests.log" 2>&1
    echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
if has softmax; then
    fresh
    optimize softmax softmax-fresh
    optimize softmax softmax-warm  # the caches the first run filled
fi
if has norace; then fresh; optimize softmax softmax-norace-fresh --no-race; fi
if has conv; then fresh; optimize conv_mish_bn conv-fresh; fi
if has others; then
    for ex in elu layernorm matmul_fp16 gemm_bias_relu; do fresh; optimize $ex $ex-fresh; done
fi
if has tunebench; then
    start=$(date +%s.%N)
    timeout 560 python3 bench/tune_bench.py --out "$OUT/tunebench" --budget-s 500 --exhaustive-cap 48 \
        ${TUNEBENCH_CONTINUE:+--continue "$TUNEBENCH_CONTINUE"} \
        --only llm:relu_grid_def,llm:relu_autotune_warps_only,llm:matmul_autotune_warps_only,llm:scale_then_sum_atomic,matmul_fp16 \
        > "$OUT/tunebench.log" 2>&1
    echo "tunebench exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
tar czf "$FINAL/verify7-${PARTS//,/-}.tgz" -C "$OUT" --exclude='./opt-*/*/*/candidates' .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
