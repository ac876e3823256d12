"""One distillation training step on one KITTI-format frame: the check to run on a new
distillation config before ``mim train`` (``tools/check_distill_config.py``).

It builds the config's model exactly as ``mim train`` does (teacher checkpoint loaded and
frozen, taps parsed and their channel widths checked), packs one frame through the config's
own voxel range, takes one optimizer step of the config's optimizer and reports:

* every loss term (``loss_pd_<tap>`` per tap), which must be finite, and every KD term > 0;
* which student modules the KD gradient reaches (the parts a tap can teach);
* that the teacher's weights did not change and the student's did.

``random_teacher=True`` replaces the teacher checkpoint by a randomly initialised teacher of the
configured architecture (a structure check when the real weights are not at hand yet).
"""
from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.distillers import load_teacher_config
from mmdet3d_pointdistiller.utils import (load_kitti_frame, merge_cfg_options,
                                          save_random_teacher)

__all__ = ['check_distill_config', 'format_report']


def _student_grad_modules(model, kd_losses: Dict[str, torch.Tensor]) -> List[str]:
    """Top-level student modules with a non-zero gradient of the summed KD terms."""
    named = [(n, p) for n, p in model.student.named_parameters() if p.requires_grad]
    total = sum(kd_losses.values())
    grads = torch.autograd.grad(total, [p for _, p in named], retain_graph=True,
                                allow_unused=True)
    return sorted({n.split('.')[0] for (n, _), g in zip(named, grads)
                   if g is not None and bool(g.abs().sum() > 0)})


def check_distill_config(config: Union[str, Path], frame_dir: Union[str, Path],
                         random_teacher: bool = False, cfg_options: Sequence[str] = (),
                         ann_file: str = '000008.pkl', seed: int = 0) -> Dict:
    """Build a distillation config, take one training step on one frame and check it.

    Args:
        config: the distillation config file.
        frame_dir: folder with the frame's KITTI info ``ann_file`` and the ``.bin`` it names
            (the repository ships KITTI frame 000008 in ``tests/data/kitti_real``).
        random_teacher: use a random teacher of the configured architecture instead of
            ``model.teacher_ckpt``.
        cfg_options: ``key=value`` overrides, as ``mim train --cfg-options``.
        seed: torch seed of the build and the step.

    Returns:
        dict: ``losses`` {name: float}, ``kd_losses`` {tap: float}, ``kd_reaches`` [student
        modules the KD gradient reaches], ``teacher_unchanged`` (bool), ``student_changed``
        (bool), ``taps`` [tap names].

    Raises:
        ValueError: the model is not a distiller with ``distill=True``, or a loss term is not
            finite, or a KD term is not positive, naming it.
    """
    cfg = Config.fromfile(str(config))
    merge_cfg_options(cfg, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    model_cfg = cfg.model
    if model_cfg.get('type') != 'PointDistillerDetector' or not model_cfg.get('distill', True):
        raise ValueError(f'{config}: model.type must be PointDistillerDetector with '
                         f"distill=True, got {model_cfg.get('type')!r}")
    with tempfile.TemporaryDirectory() as tmp:
        if random_teacher:
            ckpt = Path(tmp) / 'random_teacher.pth'
            save_random_teacher(load_teacher_config(model_cfg.teacher), ckpt, seed=seed)
            model_cfg.teacher_ckpt = str(ckpt)
        torch.manual_seed(seed)
        model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    model.train()
    pcr = model.student.voxel_encoder.point_cloud_range if hasattr(
        model.student, 'voxel_encoder') else cfg.get('point_cloud_range')
    item = load_kitti_frame(frame_dir, pcr, train=True, ann_file=ann_file, seed=seed)
    data = model.data_preprocessor(pseudo_collate([item]), True)
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in model.student.state_dict().items()}
    losses = model.loss(data['inputs'], data['data_samples'])
    kd = {k[len('loss_pd_'):]: v for k, v in losses.items() if k.startswith('loss_pd_')}
    reaches = _student_grad_modules(model, kd)
    parsed, log = model.parse_losses(losses)
    optim = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    optim.update_params(parsed)
    values = {k: float(torch.as_tensor(v).detach()) for k, v in log.items()}
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f'{config}: {name} = {value} after one step on {frame_dir}')
    for tap, value in kd.items():
        if not float(value) > 0:
            raise ValueError(f'{config}: the KD term of tap {tap!r} is {float(value)}: it '
                             f'selected nothing on this frame or its target is constant')
    return dict(
        losses=values, kd_losses={t: float(v) for t, v in kd.items()}, kd_reaches=reaches,
        taps=[t.name for t in model.taps],
        teacher_unchanged=all(torch.equal(v, teacher_before[k])
                              for k, v in model.teacher.state_dict().items()),
        student_changed=any(not torch.equal(v, student_before[k])
                            for k, v in model.student.state_dict().items()))


def format_report(config: str, res: Dict, frame: Optional[str] = None) -> str:
    """The check's result as lines of text."""
    lines = [f'{config}: one training step on {frame or "the frame"}',
             '  losses: ' + ', '.join(f'{k} {v:.4f}' for k, v in res['losses'].items()),
             '  KD terms: ' + ', '.join(f'{t} {v:.4f}' for t, v in res['kd_losses'].items()),
             '  the KD gradient reaches the student\'s: '
             + (', '.join(res['kd_reaches']) or 'nothing'),
             f"  teacher unchanged: {res['teacher_unchanged']}; student updated: "
             f"{res['student_changed']}"]
    return '\n'.join(lines)
