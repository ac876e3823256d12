"""The checks and report of ``tools/gpu_check.sh`` (one function per step).

Every ``check_*`` prints what it found, appends a section to the report and exits 1 on the first
wrong result, so the shell script (``set -e``) stops there. Command line:
``tools/gpu_check.py`` (one subcommand per function of :data:`COMMANDS`).
"""
from __future__ import annotations

import json
import math
import platform
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List

import torch
from mmengine.config import Config

from ..deploy.models import load_config
from ..utils import save_random_teacher
from ..utils.paths import checkout_root

REPO = checkout_root()

# skips that are not failures: an optional runtime that may legitimately be absent
ALLOWED_SKIPS = {
    'test_onnx_parity_with_cuda_execution_provider':
        'onnxruntime has no CUDAExecutionProvider',
}
KD_REL_TOL = 1e-4  # dense and ours compute the same loss (float32 on CUDA)
SIM_KD_CFG = (REPO / 'configs/sim/'
              'pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py')


def _append(report: str, text: str) -> None:
    with open(report, 'a') as f:
        f.write(text.rstrip('\n') + '\n\n')


def _fail(report: str, step: str, msg: str) -> None:
    _append(report, f'**FAILED: {step}** — {msg}')
    print(f'gpu_check: FAILED {step}: {msg}', file=sys.stderr)
    sys.exit(1)


def header(report: str) -> None:
    props = torch.cuda.get_device_properties(0)
    lines = ['# GPU check', '',
             'Written by `bash tools/gpu_check.sh` (stops at the first wrong result; a '
             'complete record ends with "all checks passed").', '',
             f'- GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, '
             f'compute capability {props.major}.{props.minor}',
             f'- torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN '
             f'{torch.backends.cudnn.version()}), Python {platform.python_version()}']
    for name in ('mmcv', 'mmengine', 'mmdet3d', 'spconv', 'onnxruntime'):
        try:
            mod = __import__(name)
            lines.append(f'- {name} {getattr(mod, "__version__", "?")}')
        except ImportError:
            lines.append(f'- {name}: not installed')
    Path(report).parent.mkdir(parents=True, exist_ok=True)
    Path(report).write_text('\n'.join(lines) + '\n\n')


def check_pytest(report: str, junit: str, seconds: str) -> None:
    step = 'CUDA tests'
    root = ET.parse(junit).getroot()
    rows: List[str] = []
    bad: List[str] = []
    ran = 0
    for case in root.iter('testcase'):
        name = f"{case.get('classname')}::{case.get('name')}"
        status, note = 'passed', ''
        for child in case:
            if child.tag in ('failure', 'error'):
                status, note = child.tag, (child.get('message') or '')[:200]
            elif child.tag == 'skipped':
                status, note = 'skipped', (child.get('message') or '')[:200]
        base = case.get('name', '').split('[')[0]
        if status == 'skipped' and any(base == k and v in note
                                       for k, v in ALLOWED_SKIPS.items()):
            status = 'skipped (allowed)'
        elif status != 'passed':
            bad.append(f'{name}: {status} {note}')
        ran += status == 'passed'
        rows.append(f'| `{name}` | {status} | {note.replace("|", "/")} |')
    _append(report, f'## {step} ({float(seconds):.0f} s)\n\n`pytest -m "cuda or gpu"` plus '
            '`tests/test_amp.py::test_fp16_amp_optim_wrapper_on_cuda`\n\n'
            '| test | result | note |\n|---|---|---|\n' + '\n'.join(rows))
    if not ran:
        _fail(report, step, 'no CUDA test ran')
    if bad:
        _fail(report, step, '; '.join(bad))
    print(f'gpu_check: {ran} CUDA tests passed')


def check_kd(report: str, path: str, seconds: str) -> None:
    step = 'KD-overhead benchmark on CUDA'
    res = json.loads(Path(path).read_text())
    rows = []
    bad = []
    for case in ('pointpillars_4x', 'pointpillars_4x_single_graph'):
        if case not in res:
            bad.append(f'{case} missing')
            continue
        r = res[case]
        d, o = r['dense'], r['ours']
        rel = abs(d['loss'] - o['loss']) / max(abs(d['loss']), 1e-30)
        rows.append(f"| {case} | {d['time_s'] * 1e3:.1f} | {o['time_s'] * 1e3:.1f} | "
                    f"{r['speedup']:.2f} | {d['peak_mb']:.0f} | {o['peak_mb']:.0f} | "
                    f"{r['memory_ratio']:.1f} | {rel:.1e} |")
        if not (math.isfinite(d['loss']) and math.isfinite(o['loss'])) or rel > KD_REL_TOL:
            bad.append(f'{case}: dense loss {d["loss"]} vs ours {o["loss"]} (rel {rel:.2e})')
    text = (f'## {step} ({float(seconds):.0f} s)\n\nForward + backward of the KD loss, '
            'median of the timed runs; peak = `torch.cuda.max_memory_allocated` above the '
            'inputs.\n\n| case | dense ms | ours ms | speed-up | dense peak MB | '
            'ours peak MB | memory ratio | loss rel. diff |\n|---|---|---|---|---|---|---|---|\n'
            + '\n'.join(rows))
    if 'train_step' in res:
        ts = res['train_step']
        text += '\n\nTrain step (PointPillars 4x, real frame): ' + ', '.join(
            f'{k} {v:.4g}' for k, v in ts.items() if isinstance(v, (int, float)))
    _append(report, text)
    if bad:
        _fail(report, step, '; '.join(bad))


def amp_config(out: str, teacher: str, iters: str) -> None:
    """A config: the sim PointDistiller run, ``iters`` iterations, no validation."""
    Path(out).write_text(f"""_base_ = [{str(SIM_KD_CFG)!r}]
model = dict(teacher_ckpt={teacher!r})
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={int(iters)})
val_dataloader = None
val_cfg = None
val_evaluator = None
test_dataloader = None
test_cfg = None
test_evaluator = None
default_hooks = dict(logger=dict(interval=10),
                     checkpoint=dict(interval={int(iters)}, save_last=True))
log_processor = dict(window_size=1)
""")

    cfg = Config.fromfile(out)
    save_random_teacher(load_config(cfg.model.teacher.cfg_path).model, teacher)


def check_amp(report: str, work: str, iters: str, seconds: str) -> None:
    step = f'{iters} iterations of sim distillation, fp16 AmpOptimWrapper'
    work_dir = Path(work)
    scalars = sorted(work_dir.glob('*/vis_data/scalars.json'))
    if not scalars:
        _fail(report, step, f'no scalars.json under {work}')
    records = [json.loads(line) for line in scalars[-1].read_text().splitlines() if line]
    losses = [r for r in records if 'loss' in r]
    bad = [r['iter'] for r in losses
           if not all(math.isfinite(v) for k, v in r.items() if k.startswith('loss'))]
    ckpt_path = work_dir / f'iter_{int(iters)}.pth'
    if not ckpt_path.is_file():
        _fail(report, step, f'{ckpt_path} missing')
    ckpt = torch.load(ckpt_path, map_location='cpu', weights_only=False)
    scaler = ckpt.get('optimizer', {}).get('loss_scaler')
    summary: Dict[str, object] = dict(
        logged=len(losses), first_loss=losses[0]['loss'] if losses else None,
        last_loss=losses[-1]['loss'] if losses else None,
        last_kd_loss=losses[-1].get('loss_pd_pfn') if losses else None,
        loss_scale=(scaler or {}).get('scale'),
        growth_tracker=(scaler or {}).get('_growth_tracker'))
    _append(report, f'## {step} ({float(seconds):.0f} s)\n\n' + ', '.join(
        f'{k} {v}' for k, v in summary.items()))
    if not losses or bad:
        _fail(report, step, f'non-finite losses at iterations {bad}' if bad else 'no losses')
    if not scaler or not math.isfinite(float(scaler['scale'])) or float(scaler['scale']) <= 0:
        _fail(report, step, f'loss scaler state {scaler!r} is missing or not finite')
    if losses[-1]['iter'] != int(iters):
        _fail(report, step, f'last logged iteration {losses[-1]["iter"]} != {iters}')


def footer(report: str, total: str) -> None:
    _append(report, f'**all checks passed** in {float(total):.0f} s.')


COMMANDS = dict(header=header, check_pytest=check_pytest, check_kd=check_kd,
                amp_config=amp_config, check_amp=check_amp, footer=footer)
