#!/usr/bin/env bash
# Issue 16 on the H200 (twelfth session).
#   lnfinal: why layernorm's final check (0.0961 ms) contradicted its race A/B (torch.compile's code kept at
#            0.0700 ms) in bench/results/2026-12-05-H200-verify-7: the no-LLM optimize again on fresh caches,
#            its candidates kept, then `tritonwright eval` of best.py three times (fresh processes), of the
#            race's torch.compile code as checked, and of the user's seed; each result as JSON.
#   lnclock:   `tritonwright eval` of the race's torch.compile code (scratch/ln_inductor.py, from an lnfinal run:
#            not committed) eight times and of the user's seed twice, with nvidia-smi logging SM and memory
#            clocks, power and clock-event reasons every 100 ms (do slow timings follow the clocks?);
#   lnprof:    bench/launch_bound.py on the same code and the user's seed, with and without one forward under
#            torch.profiler first (the judge's kernel-share step runs one before timing);
#   lnopt:     layernorm's no-LLM optimize on fresh caches (timing now before the profiler);
#   gputests:  tests/test_eval_gpu.py;
#   conv, gemm: conv_mish_bn and gemm_bias_relu's no-LLM optimize on fresh caches (the 60 s goal);
#   others:    elu, layernorm, matmul_fp16, softmax, each fresh.
# Usage on the device: OUT=$OUT bash bench/verify_gpu_8.sh [PARTS]
set -uo pipefail  # no -e: a failing part must not stop the others
PARTS=${1:-lnfinal}
FINAL=${OUT:-bench/results/verify-gpu-8}
mkdir -p "$FINAL"
OUT=${WORK:-$(mktemp -d)}  # WORK: keep the parts' files where the caller fetches them even if it is cut short
mkdir -p "$OUT"
source bench/device_header.sh  # secs, has, fresh, optimize, $OUT/device.txt
evaluate() {  # task example, candidate file, json name, extra eval flags
    local start
    start=$(date +%s.%N)
    timeout 120 python3 -m tritonwright eval examples/$1/task.py "$2" --json "$OUT/$3.json" ${4:-} > "$OUT/$3.log" 2>&1
    echo "eval $3 exit $? wall $(secs $start) s" >> "$OUT/device.txt"
}
if has lnfinal; then
    fresh
    optimize layernorm ln
    run=$(dirname "$(ls "$OUT"/opt-ln/*/layernorm/best.py | head -1)")
    for i in 1 2 3; do evaluate layernorm "$run/best.py" eval-best-$i; done
    evaluate layernorm "$run/best.py" eval-best-graph --cuda-graph
    for f in "$run"/candidates/*.py; do evaluate layernorm "$f" "eval-cand-$(basename "$f" .py)"; done
fi
if has lnclock; then
    nvidia-smi --query-gpu=timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active \
        --format=csv -lms 100 > "$OUT/clocks.csv" 2>&1 &
    smi=$!
    for i in $(seq ${LN_EVALS:-8}); do
        echo "$(date +%s.%N) eval ind-$i" >> "$OUT/marks.txt"
        evaluate layernorm scratch/ln_inductor.py eval-ind-$i
    done
    for i in 1 2; do
        echo "$(date +%s.%N) eval seed-$i" >> "$OUT/marks.txt"
        evaluate layernorm examples/layernorm/candidate.py eval-seed-$i
    done
    kill $smi
fi
if has lnprof; then
    for prof in "" --profile; do
        for f in scratch/ln_inductor.py scratch/ln_inductor.py examples/layernorm/candidate.py; do
            timeout 60 python3 bench/launch_bound.py examples/layernorm/task.py $f --repeat 1 --hooks $prof 2>&1 | tail -1 \
                | sed "s|^|$(basename $f) |" >> "$OUT/launch_bound.txt"
        done
    done
    cat "$OUT/launch_bound.txt"
fi
if has lnopt; then fresh; optimize layernorm layernorm; fi
if has gputests; then
    start=$(date +%s.%N)
    timeout 200 python3 -m pytest -m gpu -q -p no:cacheprovider tests/test_eval_gpu.py > "$OUT/gpu_tests.log" 2>&1
    echo "gpu tests exit $? wall $(secs $start) s" >> "$OUT/device.txt"
fi
if has conv; then fresh; optimize conv_mish_bn conv; fi
if has gemm; then fresh; optimize gemm_bias_relu gemm; fi
if has others; then
    for ex in elu layernorm matmul_fp16 softmax; do fresh; optimize $ex $ex; done
fi
tar czf "$FINAL/verify8-${PARTS//,/-}.tgz" -C "$OUT" .
cp "$OUT/device.txt" "$FINAL/device.txt"
cat "$OUT/device.txt"
