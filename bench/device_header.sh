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
