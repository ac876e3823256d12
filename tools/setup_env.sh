#!/usr/bin/env bash
# One set-up step for mmdet3d-pointdistiller, used by both README commands and by CI.
#
#   bash tools/setup_env.sh            # create/refresh .venv, then verify it
#
# Idempotent: a second run finds everything already installed (checked against a stamp
# that hashes setup.cfg and this script) and returns in seconds after verifying imports.
#
# Environment knobs:
#   PD_VENV          virtual environment to use (default: <repo>/.venv)
#   PD_PYTHON        interpreter that creates it (default: python3.11)
#   PIP_FIND_LINKS   extra wheel sources (pip's own variable); CI adds its mmcv wheel folder so
#                    the prebuilt mmcv 2.1.0 wheel is used instead of an ~11 minute build.
#   PD_MMCV_FROM_SOURCE=1  ignore any mmcv wheel and build mmcv from source.
#
# torch: if the creating interpreter can already import a compatible torch (e.g. a user's
# CUDA build), the venv is created with --system-site-packages and that torch is kept;
# otherwise torch==<default_torch pin in setup.cfg> is installed. torch is never replaced.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PD_VENV:-$ROOT/.venv}"
PYTHON_BIN="${PD_PYTHON:-python3.11}"
STAMP="$VENV/.pointdistiller-setup"
T0=$(date +%s)

log() { printf '[setup_env %3ss] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { printf '[setup_env] ERROR: %s\n' "$*" >&2; exit 1; }

# Pins come from setup.cfg only.
pin() {  # pin <section> <key> <package-name>
  "$PYTHON_BIN" - "$ROOT/setup.cfg" "$1" "$2" "$3" <<'PY'
import configparser, re, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
lines = [l.strip() for l in cfg[sys.argv[2]][sys.argv[3]].splitlines() if l.strip()]
name = sys.argv[4].lower()
hits = [l for l in lines if re.split(r'[<>=!~\[ ]', l, 1)[0].lower() == name]
if not hits:
    sys.exit(f'setup.cfg [{sys.argv[2]}] {sys.argv[3]} has no pin for {name}')
print(hits[0])
PY
}
section_list() {  # all requirement lines of an extras key
  "$PYTHON_BIN" - "$ROOT/setup.cfg" "$1" <<'PY'
import configparser, sys
cfg = configparser.ConfigParser()
cfg.read(sys.argv[1])
print(' '.join(l.strip() for l in cfg['options.extras_require'][sys.argv[2]].splitlines() if l.strip()))
PY
}

command -v "$PYTHON_BIN" >/dev/null 2>&1 || die "$PYTHON_BIN not found; install Python 3.11 or set PD_PYTHON"

FINGERPRINT="$(cat "$ROOT/setup.cfg" "$ROOT/tools/setup_env.sh" | sha256sum | cut -c1-16)"

verify() {  # imports that prove the stack is usable, including mmcv's compiled ops
  "$VENV/bin/python" - <<'PY'
import sys
try:
    import torch, mmengine, mmcv, mmdet, mmdet3d
    from mmcv.ops import Voxelization, nms_rotated, box_iou_rotated  # compiled ops
    import mmcv._ext  # noqa: F401  the extension module itself
except Exception as exc:  # report precisely which import failed, then fail
    sys.exit(f'verification failed: {type(exc).__name__}: {exc}\n'
             'mmcv must be built with MMCV_WITH_OPS=1 against the installed torch; '
             'rerun with PD_MMCV_FROM_SOURCE=1 to rebuild it.')
try:
    import onnx, onnxruntime, onnxscript  # noqa: F401  the deploy extra
except ImportError as exc:
    sys.exit(f'verification failed: {exc}; the deploy extra (onnx, onnxruntime, onnxscript, '
             'pinned in setup.cfg) is missing: rerun tools/setup_env.sh')
import mmdet3d_pointdistiller  # registers modules, activates compatibility shims
print(f'torch {torch.__version__} (cuda={torch.cuda.is_available()}), mmengine {mmengine.__version__}, '
      f'mmcv {mmcv.__version__} with ops, mmdet {mmdet.__version__}, mmdet3d {mmdet3d.__version__}, '
      f'mmdet3d_pointdistiller {mmdet3d_pointdistiller.__version__}, '
      f'onnxruntime {onnxruntime.__version__}')
PY
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FINGERPRINT" && -x "$VENV/bin/python" ]]; then
  if out="$(verify 2>&1)"; then
    log "found everything already installed in $VENV: $out"
    exit 0
  fi
  log "stamp present but verification failed, reinstalling: $out"
fi

# 1. virtual environment ------------------------------------------------------------------
SYSTEM_TORCH=0
if "$PYTHON_BIN" -c 'import torch, sys; v=tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(0 if (2,0) <= v < (3,0) else 1)' 2>/dev/null; then
  SYSTEM_TORCH=1
fi
if [[ ! -x "$VENV/bin/python" ]]; then
  if [[ $SYSTEM_TORCH == 1 ]]; then
    log "creating $VENV with --system-site-packages to keep the torch that $PYTHON_BIN already has"
    "$PYTHON_BIN" -m venv --system-site-packages "$VENV"
  else
    log "creating $VENV ($("$PYTHON_BIN" --version))"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || log "WARNING: the venv's Python is not 3.11; the pinned stack is tested on 3.11 only"

# 2. torch (never replaced when a compatible one is importable) ----------------------------
if "$PY" -c 'import torch' 2>/dev/null; then
  log "keeping the installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
else
  TORCH_PIN="$(pin options.extras_require default_torch torch)"
  log "installing $TORCH_PIN"
  "${PIP[@]}" "$TORCH_PIN"
fi
# the public version only: a local label (e.g. 2.13.0+cu130, the build PyPI serves on Linux)
# makes pip's resolver reject the package's own `torch>=2.0,<3` requirement; `==2.13.0`
# still matches the installed 2.13.0+cu130 (PEP 440), so torch is kept as it is.
TORCH_CONSTRAINT="torch==$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')"
CONSTRAINTS="$VENV/pd-constraints.txt"
# keeps every later step from touching torch, and numpy at its pin from the first install on
printf '%s\n%s\n' "$TORCH_CONSTRAINT" "$(pin options install_requires numpy)" > "$CONSTRAINTS"

# 3. mmcv with compiled ops ----------------------------------------------------------------
MMCV_PIN="$(pin options install_requires mmcv)"
MMENGINE_PIN="$(pin options install_requires mmengine)"
"${PIP[@]}" -c "$CONSTRAINTS" $(section_list mmcv_build) "$MMENGINE_PIN"

mmcv_ops_ok() { "$PY" -c 'from mmcv.ops import Voxelization, nms_rotated; import mmcv._ext' >/dev/null 2>&1; }
installed_mmcv="$("$PY" -c 'import importlib.metadata as m; print(m.version("mmcv"))' 2>/dev/null || true)"
if [[ "mmcv==$installed_mmcv" == "$MMCV_PIN" ]] && mmcv_ops_ok; then
  log "mmcv $installed_mmcv with compiled ops already installed"
else
  built=0
  if [[ "${PD_MMCV_FROM_SOURCE:-0}" != 1 ]]; then
    log "looking for a prebuilt $MMCV_PIN wheel (PIP_FIND_LINKS=${PIP_FIND_LINKS:-<unset>})"
    if "${PIP[@]}" -c "$CONSTRAINTS" --no-deps --only-binary=mmcv --force-reinstall "$MMCV_PIN" 2>/dev/null; then
      if mmcv_ops_ok; then
        built=1; log "installed $MMCV_PIN from a prebuilt wheel"
      else
        log "the prebuilt mmcv wheel does not load its ops with this torch; building from source instead"
      fi
    else
      log "no prebuilt $MMCV_PIN wheel matches this machine"
    fi
  fi
  if [[ $built == 0 ]]; then
    log "building $MMCV_PIN from source with compiled ops: this takes about 11 minutes on 2 cores ..."
    MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-0}" MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" -c "$CONSTRAINTS" --no-build-isolation --no-binary=mmcv --no-deps --force-reinstall "$MMCV_PIN"
    mmcv_ops_ok || die "mmcv was built but 'from mmcv.ops import Voxelization' still fails"
    log "built $MMCV_PIN from source"
  fi
fi

# 4. the rest of the stack and the package itself -------------------------------------------
EXTRAS="tests,tools,deploy"   # deploy: onnx, onnxruntime, onnxscript (ONNX export)
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  EXTRAS="$EXTRAS,cpu"   # spconv CPU build for SECOND on machines without CUDA
fi
log "installing the pinned OpenMMLab stack and mmdet3d-pointdistiller[$EXTRAS] (editable)"
"${PIP[@]}" -c "$CONSTRAINTS" -e "$ROOT[$EXTRAS]"

# 5. verify ---------------------------------------------------------------------------------
out="$(verify)" || die "$out"
echo "$FINGERPRINT" > "$STAMP"
log "environment ready in $VENV: $out"
