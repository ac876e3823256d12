#!/usr/bin/env bash
# One-command check of every CUDA path of mmdet3d-pointdistiller, for a machine with a GPU.
#
#   bash tools/gpu_check.sh            # ~5-8 minutes on one GPU; writes benchmarks/gpu_check.md
#
# Runs, stopping at the first wrong result (each step checked by tools/gpu_check.py):
#   1. every CUDA-only test: `pytest -m "cuda or gpu"` (mmcv's CUDA point ops against the CPU
#      implementations, a SECOND PointDistiller step with spconv on CUDA, ONNX parity with
#      ONNX Runtime's CUDA provider when onnxruntime-gpu is installed) and the fp16
#      AmpOptimWrapper test of tests/test_amp.py; any unexpected skip is a failure;
#   2. the KD-overhead benchmark on CUDA at PointPillars-4x scale (dense vs ours: time,
#      torch.cuda.max_memory_allocated, equal losses);
#   3. 200 iterations of the sim PointDistiller config with fp16 AmpOptimWrapper (--amp) on a
#      freshly simulated dataset: finite losses and a finite loss-scaler state.
# Without CUDA it exits at once (status 2) and writes nothing.
#
# Knobs: PD_PYTHON_BIN (interpreter, default .venv/bin/python), PD_GPU_CHECK_OUT (report,
# default benchmarks/gpu_check.md), PD_GPU_CHECK_WORK (scratch folder, default a mktemp dir),
# PD_GPU_CHECK_ITERS (default 200).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PD_PYTHON_BIN:-$ROOT/.venv/bin/python}"
REPORT="${PD_GPU_CHECK_OUT:-$ROOT/benchmarks/gpu_check.md}"
ITERS="${PD_GPU_CHECK_ITERS:-200}"

die() { printf 'gpu_check: %s\n' "$1" >&2; exit "${2:-1}"; }  # die MESSAGE [STATUS]

[[ -x "$PY" ]] || die "no Python at $PY (run tools/setup_env.sh or set PD_PYTHON_BIN)" 2
if ! cuda_info="$("$PY" -c 'import sys, torch
ok = torch.cuda.is_available()
print(f"torch {torch.__version__}, built for CUDA {torch.version.cuda}, "
      f"cuda available: {ok}, devices: {torch.cuda.device_count() if ok else 0}")
sys.exit(0 if ok else 1)' 2>&1)"; then
  die "CUDA is not available on this machine ($cuda_info); nothing was run and \
$REPORT was not written. Run this script on a machine with an NVIDIA GPU and a CUDA build \
of torch." 2
fi
"$PY" -c 'import spconv.pytorch' 2>/dev/null || die "spconv with CUDA support is not \
installed: pip install the spconv-cuXXX wheel of your CUDA (e.g. spconv-cu120 for CUDA 12.x, \
see README 'GPU users'); the SECOND check needs it" 3

export OMP_NUM_THREADS="${OMP_NUM_THREADS:-4}"
WORK="${PD_GPU_CHECK_WORK:-$(mktemp -d -t pd_gpu_check.XXXXXX)}"
mkdir -p "$WORK"
T0=$(date +%s)
log() { printf '[gpu_check %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
cd "$ROOT"
"$PY" tools/gpu_check.py header "$REPORT"
log "$cuda_info; scratch $WORK; report $REPORT"

# 1. CUDA-only tests --------------------------------------------------------------------------
log 'CUDA tests'
t=$(date +%s)
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -rs -m 'cuda or gpu' \
  --junitxml "$WORK/cuda_marked.xml" tests || true   # verdict from the junit file below
timeout 120 "$PY" -m pytest -q -p no:cacheprovider -rs -m '' \
  --junitxml "$WORK/amp.xml" tests/test_amp.py::test_fp16_amp_optim_wrapper_on_cuda || true
"$PY" - "$WORK/cuda_marked.xml" "$WORK/amp.xml" "$WORK/cuda_tests.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.Element('testsuites')
for path in sys.argv[1:3]:
    tree = ET.parse(path).getroot()
    root.extend(tree.iter('testsuite'))
ET.ElementTree(root).write(sys.argv[3])
PY
"$PY" tools/gpu_check.py check-pytest "$REPORT" "$WORK/cuda_tests.xml" "$(( $(date +%s) - t ))"

# 2. KD-overhead benchmark on CUDA --------------------------------------------------------------
log 'KD-overhead benchmark on CUDA (PointPillars-4x scale)'
t=$(date +%s)
timeout 180 "$PY" tools/benchmark_kd_overhead.py --device cuda --repeats 3 --skip-sweep \
  --cases pointpillars_4x pointpillars_4x_single_graph --out-dir "$WORK/kd_overhead"
"$PY" tools/gpu_check.py check-kd "$REPORT" "$WORK/kd_overhead/kd_overhead.json" \
  "$(( $(date +%s) - t ))"

# 3. sim distillation with fp16 AMP -------------------------------------------------------------
log "simulated dataset + $ITERS iterations of fp16 distillation"
t=$(date +%s)
timeout 180 "$PY" tools/simulate_kitti.py --out "$WORK/sim" --num-train 40 --num-val 2 \
  --workers "$(nproc)" --no-progress --create-data
"$PY" tools/gpu_check.py amp-config "$WORK/amp_cfg.py" "$WORK/teacher.pth" "$ITERS"
PD_SIM_KITTI="$WORK/sim/" timeout 300 "$PY" \
  "$("$PY" -c 'from mmdet3d_pointdistiller.sim import mmdet3d_mim_root as r; print(r())')/tools/train.py" \
  "$WORK/amp_cfg.py" --amp --work-dir "$WORK/amp"
"$PY" tools/gpu_check.py check-amp "$REPORT" "$WORK/amp" "$ITERS" "$(( $(date +%s) - t ))"

"$PY" tools/gpu_check.py footer "$REPORT" "$(( $(date +%s) - T0 ))"
log "all checks passed; report: $REPORT"
