#!/usr/bin/env bash
# The GPU check, in one go on a GPU machine (this workplace's device tool; see docs/development.md,
# "Benchmarks"): installs the wheels carried in .whl/ (make gpu-wheels, here) into /tmp/site, runs the
# CUDA-relevant core tests and bench/gpu_bench.py, and writes everything under $OUT:
#   $OUT/RESULTS-gpu.md  the figures with the card's name (to copy into bench/RESULTS.md)
#   $OUT/tests.log, $OUT/bench.log, $OUT/nvidia-smi.txt
# Budget: tests ≤ 4 min, bench ≤ 3.5 min (each stopped at its limit), under 8 minutes in all.
#
#   device tool: run(command="bash bench/gpu.sh", carry=[".whl"], timeout_s=540)
#   anywhere else: OUT=/tmp/gpu-out bash bench/gpu.sh
#   a dry run of the script on a CPU (what was checked without a GPU):
#     PYTHON=.venv/bin/python OUT=/tmp/gpu-out GPU_TESTS=tests/test_cuda.py \
#       GPU_BENCH_ARGS="--quick --models FLAIR-INC_rgb_15cl_resnet34-unet" bash bench/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/flair-gpu-out}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 FLAIR_CACHE_DIR=/tmp/flair-gpu-cache  # the tests run their own loopback hub

if compgen -G ".whl/*.whl" >/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "installing .whl/ failed" | tee "$OUT/tests.log"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$OUT/nvidia-smi.txt"
"$PY" - <<'EOF' 2>&1 | tee "$OUT/versions.txt"
import torch, numpy, rasterio, segmentation_models_pytorch as smp, timm
print("torch", torch.__version__, "CUDA", torch.version.cuda, "GPU", torch.cuda.is_available() and torch.cuda.get_device_name(0))
print("numpy", numpy.__version__, "rasterio", rasterio.__version__, "smp", smp.__version__, "timm", timm.__version__)
EOF

# The core tests where CUDA changes something: device choice, autocast/precision, the automatic batch
# from the free GPU memory, out-of-memory halving, PyTorch kept on CUDA (test_cuda.py runs only there),
# FLAIR-HUB models, the CPU-memory checks that must not apply on CUDA. QGIS tests are left out (no QGIS).
TESTS=${GPU_TESTS:-tests/test_cuda.py tests/test_engine.py tests/test_cpu_memory.py tests/test_hub_models.py tests/test_pipeline.py}
# shellcheck disable=SC2086  # a list of files
timeout 240 "$PY" -m pytest -q -m "not qgis" -p no:cacheprovider -o addopts="-ra" $TESTS 2>&1 | tee "$OUT/tests.log"
tests=${PIPESTATUS[0]}

# shellcheck disable=SC2086  # options
timeout 210 "$PY" bench/gpu_bench.py ${GPU_BENCH_ARGS:---seconds 8} --out "$OUT/RESULTS-gpu.md" 2>&1 | tee "$OUT/bench.log"
bench=${PIPESTATUS[0]}

{ echo; echo "bench/gpu.sh: tests exit $tests, bench exit $bench (124: stopped at its time limit)."; } >>"$OUT/RESULTS-gpu.md"
grep -E "[0-9]+ (passed|failed|skipped|error)" "$OUT/tests.log" | tail -n 1 | sed 's/^/tests: /' >>"$OUT/RESULTS-gpu.md"
echo "tests exit $tests, bench exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
