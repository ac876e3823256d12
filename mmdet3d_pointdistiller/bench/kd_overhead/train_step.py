"""One training step with distillation against one without, on the real KITTI frame.

``train_step`` (data preprocessor, loss, backward, optimizer step with the config's AdamW +
gradient clipping) of ``PointDistillerDetector`` with ``distill=True`` (teacher forward
included) vs ``distill=False``, the same student initialisation, on the real KITTI frame
``000008`` (``kitti_dir``) with the PointPillars-4x configs; the batch holds ``batch`` copies
of the one frame. The teacher is randomly initialised (its cost does not depend on its
values). Steps alternate student / distill so machine load hits both. Runs in the calling
process (time only).
"""
import copy
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, Sequence, Union

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from mmdet3d_pointdistiller.models.distillers import load_teacher_config
from mmdet3d_pointdistiller.testing.configs import crop_voxelnet
from mmdet3d_pointdistiller.testing.data import DATA_ENV
from mmdet3d_pointdistiller.utils import load_kitti_frame, save_random_teacher
from mmdet3d_pointdistiller.utils.paths import repo_root

from .cases import KD_CONFIGS, load_config, plain

FRAME = '000008'

__all__ = ['FRAME', 'default_kitti_dir', 'train_step_worker']


def default_kitti_dir() -> Path:
    """Where the real KITTI frame is looked for unless ``--kitti-dir`` is given:
    ``$PD_TEST_DATA/kitti_real``, the test data folder (``tests/conftest.py`` documents its
    default, which is used here too when the variable is unset)."""
    data = os.environ.get(DATA_ENV)
    return (Path(data) if data else repo_root() / 'tests' / 'data') / 'kitti_real'


def _need_kitti(kitti_dir: Path) -> Path:
    """``kitti_dir``, after checking it holds the frame's point cloud and info file."""
    for suffix in ('.bin', '.pkl'):
        if not (kitti_dir / f'{FRAME}{suffix}').is_file():
            raise FileNotFoundError(f'real KITTI frame {FRAME}{suffix} not found under '
                                    f'{kitti_dir} (needed for the train-step benchmark)')
    return kitti_dir


def _kitti_item(kitti_dir: Path, point_cloud_range: Sequence[float]) -> Dict:
    """The real frame through mmdet3d's KittiDataset (deterministic pipeline: no
    GT-sampling, which needs a dbinfos file, and no random augmentation)."""
    return load_kitti_frame(_need_kitti(kitti_dir), point_cloud_range, train=True)


def train_step_worker(payload: Dict) -> Dict:
    """Distill vs student-only ``train_step`` on the real frame (see the module docstring),
    with ``payload['threads']`` torch threads (restored afterwards).

    Args:
        payload: ``batch``, ``warmup``, ``repeats``, ``threads``, ``seed``, ``device``,
            ``crop`` (None or a point-cloud range that replaces the config's, for ``--quick``),
            ``kitti_dir`` (optional; default :func:`default_kitti_dir`).

    Returns:
        dict: medians ``student_s`` / ``distill_s`` and their ``ratio``, every timed step, the
        breakdown ``teacher_forward_s`` / ``kd_loss_fwd_bwd_s``, pillar counts, the last logs
        and the settings.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(payload['threads'])
    try:
        return _train_step(payload)
    finally:
        torch.set_num_threads(threads)


def _train_step(payload: Dict) -> Dict:
    init_default_scope('mmdet3d')
    kitti_dir: Union[str, Path, None] = payload.get('kitti_dir')
    kitti_dir = Path(kitti_dir) if kitti_dir is not None else default_kitti_dir()
    cfg = load_config('pointpillars_4x')
    cfg.model.teacher = load_teacher_config(cfg.model.teacher)
    if payload.get('crop') is not None:
        for model_cfg in (cfg.model.student, cfg.model.teacher):
            crop_voxelnet(model_cfg, payload['crop'])
    pc_range = cfg.model.student.data_preprocessor.voxel_layer.point_cloud_range
    item = _kitti_item(kitti_dir, pc_range)
    data = pseudo_collate([copy.deepcopy(item) for _ in range(payload['batch'])])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / 'teacher_random_init.pth'
        save_random_teacher(cfg.model.teacher, ckpt, seed=payload['seed'])
        cfg.model.teacher_ckpt = str(ckpt)
        torch.manual_seed(payload['seed'])
        distill = MODELS.build(copy.deepcopy(cfg.model))
        distill.init_weights()
    student_cfg = copy.deepcopy(cfg.model)
    student_cfg.update(distill=False, teacher_ckpt=None)
    student = MODELS.build(student_cfg)
    student.init_weights()
    student.student.load_state_dict(distill.student.state_dict(), strict=True)
    device = payload.get('device', 'cpu')
    models = dict(student=student.to(device), distill=distill.to(device))
    optims = {}

    def sync() -> None:
        if device.startswith('cuda'):
            torch.cuda.synchronize()

    for name, model in models.items():
        model.train()
        optims[name] = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))

    logs = {}

    def step(name: str) -> float:
        batch = copy.deepcopy(data)
        sync()
        t0 = time.perf_counter()
        log = models[name].train_step(batch, optims[name])
        sync()
        elapsed = time.perf_counter() - t0
        logs[name] = {k: float(v.detach() if torch.is_tensor(v) else v) for k, v in log.items()}
        for key, value in logs[name].items():
            if not math.isfinite(value):
                raise RuntimeError(f'{name} train_step gave a non-finite {key}: {value}')
        return elapsed

    times = dict(student=[], distill=[])
    for i in range(payload['warmup'] + payload['repeats']):
        for name in ('student', 'distill'):
            elapsed = step(name)
            if i >= payload['warmup']:
                times[name].append(elapsed)

    # ---- breakdown: teacher forward and the KD loss alone, on this step's real features
    inputs = distill.data_preprocessor(copy.deepcopy(data), True)
    batch_inputs, samples = inputs['inputs'], inputs['data_samples']
    captured = {}

    def capture(name):

        def hook(module, args, kwargs):
            captured[name] = ([a.detach().clone() if torch.is_tensor(a) else a for a in args],
                              {k: v.detach().clone() if torch.is_tensor(v) else v
                               for k, v in kwargs.items()})

        return hook

    handles = [m.register_forward_pre_hook(capture(n), with_kwargs=True)
               for n, m in distill.distill_losses.items()]
    distill.loss(batch_inputs, samples)
    for h in handles:
        h.remove()
    teacher_times, kd_times = [], []
    for i in range(payload['warmup'] + payload['repeats']):
        sync()
        t0 = time.perf_counter()
        distill._teacher_features(batch_inputs, samples)
        sync()
        t1 = time.perf_counter()
        total = 0
        for name, (args, kwargs) in captured.items():
            s_feat = args[1].clone().requires_grad_()
            total = total + distill.distill_losses[name](args[0], s_feat, *args[2:], **kwargs)
        total.backward()
        sync()
        t2 = time.perf_counter()
        if i >= payload['warmup']:
            teacher_times.append(t1 - t0)
            kd_times.append(t2 - t1)
    voxels = batch_inputs['voxels']
    student_s = statistics.median(times['student'])
    distill_s = statistics.median(times['distill'])
    return dict(
        student_s=student_s, distill_s=distill_s, ratio=distill_s / student_s,
        student_times_s=times['student'], distill_times_s=times['distill'],
        teacher_forward_s=statistics.median(teacher_times),
        kd_loss_fwd_bwd_s=statistics.median(kd_times),
        batch=payload['batch'], device=device,
        # repository-relative, so a committed record names no machine's absolute path
        frame=os.path.relpath(Path(kitti_dir).resolve() / f'{FRAME}.bin', repo_root()),
        frame_note=f'the same real frame {payload["batch"]} times (deterministic pipeline, '
                   'no GT-sampling / augmentation)',
        pillars=int(voxels['coors'].shape[0]),
        point_cloud_range=list(pc_range),
        pillars_per_sample=[int((voxels['coors'][:, 0] == b).sum())
                            for b in range(payload['batch'])],
        kd_loss_keys=sorted(k for k in logs['distill'] if k.startswith('loss_pd')),
        last_logs=logs, warmup=payload['warmup'], repeats=payload['repeats'],
        optimizer=plain(cfg.optim_wrapper), threads=torch.get_num_threads(),
        config=KD_CONFIGS['pointpillars_4x'], teacher='random init (same architecture as '
                                                      'the stock teacher config)')
