# Sourced by the bench/verify_gpu*.sh scripts after they set OUT (a fresh folder): `secs START` prints the
# seconds since START (a `date +%s.%N` reading), and $OUT/device.txt starts with the GPU, driver and versions.
export PYTHONPATH=src PYTHONUNBUFFERED=1
secs() { python3 -c "print(round($(date +%s.%N) - $1, 1))"; }
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/device.txt" 2>&1
python3 -c "import torch, triton, sys, os; print('torch', torch.__version__, 'triton', triton.__version__, 'python', sys.version.split()[0], 'cpus', os.cpu_count())" >> "$OUT/device.txt"
# `has NAME`: NAME is one of the comma-separated $PARTS (whole names: "tunetests" is not "tests"); `fresh`:
# empty Triton, Inductor and tritonwright caches for what runs next (a fresh machine's compile costs).
has() { [[ ,${PARTS:-}, == *,$1,* ]]; }
fresh() { export TRITON_CACHE_DIR=$(mktemp -d) TORCHINDUCTOR_CACHE_DIR=$(mktemp -d) TRITONWRIGHT_CACHE_DIR=$(mktemp -d); }
# `optimize EXAMPLE NAME [FLAGS]`: the no-LLM optimize of examples/EXAMPLE from its candidate, into $OUT/opt-NAME,
# every output line stamped with the wall clock in $OUT/optimize-NAME.log; its exit and wall go to device.txt.
optimize() {  # example, log name, extra optimize flags; each output line stamped with the wall clock
    local start
    start=$(date +%s.%N)
    timeout ${OPT_TIMEOUT:-200} python3 bench/driver_imports.py optimize examples/$1/task.py \
        --from examples/$1/candidate.py --out "$OUT/opt-$2" --quiet ${3:-} 2>&1 | (echo "$start start"
        while IFS= read -r line; do echo "$(date +%s.%N) $line"; done; echo "$(date +%s.%N) end") > "$OUT/optimize-$2.log"
    echo "optimize $2 exit ${PIPESTATUS[0]} wall $(secs $start) s" >> "$OUT/device.txt"
}
