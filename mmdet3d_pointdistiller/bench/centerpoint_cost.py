"""Size and CPU training cost of the CenterPoint family, next to the sim PointPillars ones.

Measured, per config (:data:`CASES`):

* **parameters** of the trained detector (the student of a distillation config) and the
  trained parameters of the KD modules (adapters; design (c)'s fixed teacher-side identity
  and frozen teacher adapters do not count);
* **GFLOPs per frame** of the detector's tensor-mode forward (mmcv 1.x convention,
  :func:`~mmdet3d_pointdistiller.quickstart.complexity.count_flops`), on the real KITTI frame
  000008 cropped to the config's point-cloud range (the sim range: x 0..40.96 m, y ±20.48 m);
* **seconds per training iteration** (``train_step``: teacher features, student loss, KD
  losses, backward, AdamW step) on batches of two copies of that frame, teachers randomly
  initialised (the cost does not depend on the weights). Rounds alternate the configs after a
  warm-up, and the record keeps every timed iteration; the report gives medians and the ratio
  to the sim PointPillars 16x student measured in the same run (absolute CPU times depend on
  the machine and its load, the ratios much less).

Each row keeps the SHA-1 of its resolved config (``config_hash``), so a config edited after
the measurement shows (``tests/test_centerpoint.py`` compares them with the configs).

Runs without a trained CenterPoint teacher: it answers "what does a CenterPoint distillation
run cost on these cores" before the teacher exists (issue: CenterPoint family, item 7).
"""
from __future__ import annotations

import copy
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from ..models.distillers import load_teacher_config
from ..quickstart.complexity import count_flops, count_params
from ..quickstart.jobs import config_hash
from ..utils import save_random_teacher
from ..utils.kitti_frame import load_kitti_frame
from ..utils.paths import checkout_root

__all__ = ['CASES', 'measure', 'render', 'run']

REPO = checkout_root()
_SIM = 'configs/sim/'
_CP = '_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
_PP = '_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
#: (name, config relative to the repository root); the first 16x student is the reference
CASES = [
    ('PointPillars 16x student', _SIM + 'pointpillars-16x' + _PP),
    ('PointPillars 16x PointDistiller (PFN tap, design (c))',
     _SIM + 'pointdistiller_pointpillars-16x' + _PP),
    ('PointPillars teacher', _SIM + 'pointpillars' + _PP),
    ('CenterPoint teacher', _SIM + 'centerpoint' + _CP),
    ('CenterPoint 4x student', _SIM + 'centerpoint-4x' + _CP),
    ('CenterPoint 16x student', _SIM + 'centerpoint-16x' + _CP),
    ('CenterPoint 16x PointDistiller (PFN tap, design (c))',
     _SIM + 'pointdistiller_centerpoint-16x' + _CP),
    ('CenterPoint 16x PointDistiller (BEV taps, design (a))',
     _SIM + 'pointdistiller-bev_centerpoint-16x' + _CP),
    ('CenterPoint 16x CenterHead KD', _SIM + 'centerhead-kd_centerpoint-16x' + _CP),
    ('CenterPoint 16x PointDistiller (c) + CenterHead KD',
     _SIM + 'pointdistiller-centerhead-kd_centerpoint-16x' + _CP),
]
REFERENCE = 'PointPillars 16x student'


def _build(config: str, tmp: Path):
    """(model in train mode, detector whose size is reported, point-cloud range, the
    config's ``AddZeroVelocity`` transform if its training pipeline has one)."""
    cfg = Config.fromfile(str(REPO / config))
    model_cfg = copy.deepcopy(cfg.model)
    if model_cfg.type == 'PointDistillerDetector':
        model_cfg.teacher = load_teacher_config(model_cfg.teacher)
        model_cfg.teacher_ckpt = str(tmp / (Path(config).stem + '_teacher.pth'))
        save_random_teacher(model_cfg.teacher, model_cfg.teacher_ckpt)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.train()
    # the frame goes through the config's extra box transform, if its pipeline has one
    extra = [dict(t) for t in cfg.train_pipeline if t['type'] == 'AddZeroVelocity']
    return model, getattr(model, 'student', model), cfg.point_cloud_range, extra


def measure(kitti_dir: Path, iters: int = 5, rounds: int = 3, warmup: int = 2,
            cases: Sequence = CASES, log=print) -> Dict:
    """Measure every case; returns the record (see the module docstring)."""
    init_default_scope('mmdet3d')
    built, rows = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in cases:
            model, detector, pcr, extra = _build(config, Path(tmp))
            item = load_kitti_frame(kitti_dir, pcr, train=True, extra_transforms=extra)
            flops = count_flops(detector, [pseudo_collate([copy.deepcopy(item)])])
            model.train()
            kd = getattr(model, 'distill_losses', None)
            optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                                    optimizer=dict(type='AdamW', lr=1e-4)))
            batch = pseudo_collate([item, copy.deepcopy(item)])
            for _ in range(warmup):
                model.train_step(copy.deepcopy(batch), optim)
            built[name] = (model, optim, batch)
            rows.append(dict(name=name, config=config,
                             config_hash=config_hash(config, [], {}, REPO),
                             params_m=count_params(detector) / 1e6,
                             kd_params_m=0.0 if kd is None else sum(
                                 p.numel() for p in kd.parameters() if p.requires_grad) / 1e6,
                             gflops=flops['gflops'], times_s=[]))
            log(f'[centerpoint-cost] built {name}: {rows[-1]["params_m"]:.3f} M, '
                f'{flops["gflops"]:.2f} GFLOPs')
        for r in range(rounds):
            for row in rows:
                model, optim, batch = built[row['name']]
                for _ in range(iters):
                    t0 = time.perf_counter()
                    model.train_step(copy.deepcopy(batch), optim)
                    row['times_s'].append(time.perf_counter() - t0)
            log(f'[centerpoint-cost] round {r + 1}/{rounds} done')
    return dict(threads=torch.get_num_threads(), iters=iters, rounds=rounds, warmup=warmup,
                batch_size=2, frame='real KITTI frame 000008 (tests/data/kitti_real), '
                'cropped to each config\'s range', machine=platform.processor() or
                platform.machine(), reference=REFERENCE, rows=rows)


def render(record: Dict, command: str) -> str:
    """Markdown report of a record: medians and ratios recomputed from ``times_s``."""
    ref = statistics.median(next(r for r in record['rows']
                                 if r['name'] == record['reference'])['times_s'])
    lines = [
        '# CenterPoint family: size and CPU training cost (simulated-dataset configs)', '',
        f'Command: `{command}`', '',
        f'{record["threads"]} torch thread(s), batch {record["batch_size"]} '
        f'({record["frame"]}), {record["rounds"]} rounds x {record["iters"]} timed '
        f'iterations per config after {record["warmup"]} warm-up; teachers randomly '
        'initialised. Ratios are to the sim PointPillars 16x student in the same run; '
        'absolute times depend on the load of the machine (this record: '
        f'`{record["machine"]}`, 2 cores).', '',
        '| config | trained params (M) | trained KD params (M) | GFLOPs / frame | s / iteration '
        '(median) | x PointPillars 16x student |',
        '|---|---|---|---|---|---|']
    for r in record['rows']:
        med = statistics.median(r['times_s'])
        lines.append(f'| {r["name"]} (`{Path(r["config"]).name}`) | {r["params_m"]:.3f} | '
                     f'{r["kd_params_m"]:.3f} | {r["gflops"]:.2f} | {med:.3f} | '
                     f'{med / ref:.2f} |')
    lines += ['', 'Per-iteration times of every run: the `times_s` lists of the JSON record.']
    return '\n'.join(lines) + '\n'


def run(out: Path, kitti_dir: Path, iters: int, rounds: int, command: str) -> List[Path]:
    """Measure, write ``out.json`` and ``out.md``; returns both paths."""
    record = measure(kitti_dir, iters=iters, rounds=rounds)
    record['command'] = command
    out.parent.mkdir(parents=True, exist_ok=True)
    js, md = out.with_suffix('.json'), out.with_suffix('.md')
    js.write_text(json.dumps(record, indent=1) + '\n')
    md.write_text(render(record, command))
    return [js, md]
