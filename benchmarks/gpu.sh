#!/usr/bin/env bash
# The GPU check, in under 8 minutes on a machine with a CUDA GPU: the CUDA tests, the engine
# against Aer-GPU's EstimatorQNN (where qiskit-aer-gpu is installed), and a short training step,
# each table into one folder: $OUT if set, else benchmarks/gpu-<UTC time>/.
#
#     bash benchmarks/gpu.sh                 # from the repository root
#     PYTHON=python3 OUT=/tmp/gpu bash benchmarks/gpu.sh
#
# Without a GPU it says so, writes that into the folder and exits 0. Each part has its own
# time limit (150 + 210 + 90 s) so that one stuck part cannot take the others' time; the
# summary says which parts ran, failed or timed out.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${OUT:-benchmarks/gpu-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
{
    echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname)"
    echo
    echo "command: \`bash benchmarks/gpu.sh\` (python: $PY)"
    echo
} > "$SUMMARY"

gpu=$("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null)
if [ -z "$gpu" ]; then
    echo "no CUDA GPU is visible to torch on this machine: nothing was run" | tee -a "$SUMMARY" >&2
    exit 0
fi
echo "GPU: $gpu" | tee -a "$SUMMARY"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >> "$SUMMARY" 2>/dev/null

part() {  # part NAME SECONDS FILE COMMAND...: run one part under its time limit, note how it ended
    local name=$1 limit=$2 file=$3
    shift 3
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$file" 2>&1
    local rc=$?
    local how="exit $rc"
    [ $rc -eq 0 ] && how="ok"
    [ $rc -eq 124 ] && how="TIMED OUT after ${limit} s"
    echo "- $name: $how in $((SECONDS - start)) s, see $file" | tee -a "$SUMMARY"
}

# 1. The CUDA tests (exit 5: none selected).
part "CUDA tests (pytest -m cuda)" 150 cuda_tests.txt "$PY" -m pytest -q -m cuda tests -p no:cacheprovider

# 2. The engine on the GPU, beside Aer-GPU's EstimatorQNN where this Aer build has a GPU device.
skip=()
if ! "$PY" -c 'from qiskit_aer import AerSimulator; import sys; sys.exit("GPU" not in AerSimulator().available_devices())' 2>/dev/null; then
    echo "- note: this qiskit-aer has no GPU device (pip uninstall qiskit-aer; pip install qiskit-aer-gpu): Aer-GPU skipped" \
        | tee -a "$SUMMARY"
    skip=(--skip qml-aer-gpu)
fi
part "engine vs Aer-GPU, ring-ry" 210 engine.md "$PY" benchmarks/engine.py --device cuda --circuit ring-ry \
    --qubits 6 12 16 --batches 64 1024 16384 --budget 0.5 --repeats 200 "${skip[@]}" --json "$OUT/engine.json"

# 3. A short training step of the thesis' MNIST model on the GPU, quantum and classical.
part "MNIST training step" 90 training.md "$PY" - <<'EOF'
import time

import torch

from qrkt_qiskit.training import TrainConfig, train_step
from qrkt_qiskit.training.runs import build_model
from qrkt_qiskit.training.schedule import warmup_cosine

print("| model | ms/step (median of 20, after 5 warm-up) |\n|---|---:|")
for quantum in (False, True):
    torch.manual_seed(0)
    config = TrainConfig(dataset="mnist", quantum=quantum, device="cuda")
    model = build_model(config).to("cuda")
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    scheduler = warmup_cosine(optimizer, 5000, 54_000)
    x, y = torch.randn(65, 1, 28, 28, device="cuda"), torch.randint(0, 10, (65,), device="cuda")
    times = []
    for step in range(25):
        torch.cuda.synchronize()
        start = time.perf_counter()
        train_step(model, optimizer, scheduler, x, y, clip_norm=config.clip_norm)
        torch.cuda.synchronize()
        if step >= 5:
            times.append(time.perf_counter() - start)
    print(f"| {'quantum' if quantum else 'classical'} | {sorted(times)[len(times) // 2] * 1e3:.1f} |")
EOF
echo "tables in $OUT"
