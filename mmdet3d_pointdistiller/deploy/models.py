"""The models the deployment benchmark and tests export, by name.

Names are ``<teacher|4x|16x>_<kitti|sim>`` (PointPillars) and ``cp-16x_sim`` (the sim pillar
CenterPoint 16x student, ``configs/sim/centerpoint-16x_*``; its teacher is left out: with random
weights calibrated as below, none of its cells on the real frame scores above an empty canvas,
so it keeps no box and a box-level parity check would be vacuous):

* ``*_kitti`` — the full KITTI grid (432 x 496 pillars of 0.16 m): mmdet3d's stock teacher
  config and this project's 4x / 16x student configs in ``configs/pointpillars/``;
* ``*_sim`` — the CPU grid of the simulated dataset (128 x 128 pillars of 0.32 m):
  ``configs/sim/``'s teacher and 4x student. No 16x sim config exists; ``16x_sim`` is derived
  here: the sim teacher config with every channel width of the KITTI 16x student
  (``configs/_base_/students/pointpillars-16x_...``), the same recipe by which the 4x sim
  config was made from the KITTI 4x student (a test checks that applying it to the KITTI 4x
  student reproduces ``configs/sim/pointpillars-4x_...`` exactly).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Dict, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet3d.registry import MODELS

from ..utils import save_random_teacher
from ..utils.config_files import load_config as load_repo_config

REPO = Path(__file__).resolve().parents[2]
CONFIGS: Dict[str, str] = {
    'teacher_kitti': 'mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '4x_kitti': 'configs/pointpillars/pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    '16x_kitti': 'configs/pointpillars/pointpillars-16x_hv_secfpn_8xb6-160e_kitti-3d-3class.py',
    'teacher_sim': 'configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '4x_sim': 'configs/sim/pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
    '16x_sim': 'derived: configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py '
               'with the widths of configs/pointpillars/pointpillars-16x_hv_secfpn_8xb6-160e_'
               'kitti-3d-3class.py',
    'cp-16x_sim': 'configs/sim/centerpoint-16x_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-'
                  '3class.py',
}
MODEL_NAMES: Tuple[str, ...] = tuple(CONFIGS)
# every channel width a PointPillars student changes (module, key)
WIDTH_KEYS = (('voxel_encoder', 'feat_channels'), ('middle_encoder', 'in_channels'),
              ('backbone', 'in_channels'), ('backbone', 'out_channels'),
              ('neck', 'in_channels'), ('neck', 'out_channels'),
              ('bbox_head', 'in_channels'), ('bbox_head', 'feat_channels'))


def load_config(path: str) -> Config:
    """A config file of this repository (relative to its root) or ``mmdet3d::<path>``."""
    return load_repo_config(path, root=REPO)


def with_student_widths(grid_cfg: Config, student_cfg: Config) -> Config:
    """``grid_cfg`` (data, range, grid, anchors) with every channel width of ``student_cfg``.

    Args:
        grid_cfg: e.g. the sim teacher config.
        student_cfg: e.g. the KITTI 16x student config.
    """
    out = copy.deepcopy(grid_cfg)
    for module, key in WIDTH_KEYS:
        out.model[module][key] = copy.deepcopy(student_cfg.model[module][key])
    return out


def named_config(name: str) -> Config:
    """The config of a model of :data:`MODEL_NAMES`.

    Raises:
        KeyError: for an unknown name, listing the known ones.
    """
    if name not in CONFIGS:
        raise KeyError(f'unknown model {name!r}; known: {", ".join(MODEL_NAMES)}')
    if name == '16x_sim':
        return with_student_widths(load_config(CONFIGS['teacher_sim']),
                                   load_config(CONFIGS['16x_kitti']))
    return load_config(CONFIGS[name])


def save_random_detector(model_cfg, path, seed: int = 0, background_logit: float = -3.0,
                         cls_gain: float = 30.0) -> Dict[str, 'torch.Tensor']:
    """A random PointPillars checkpoint whose scores behave like a trained detector's.

    :func:`mmdet3d_pointdistiller.utils.save_random_teacher` (random weights, non-trivial BN
    statistics), then the classification conv is redrawn with std ``1/sqrt(C_in)`` and its
    bias set so that an empty BEV cell (all-zero canvas) scores at most ``background_logit``
    for every anchor and class (sigmoid(-3) = 0.047 < the stock ``score_thr`` 0.1). Cells with
    points then get spread-out scores, some above the threshold.

    Why: at mmdet3d's initialisation (std 0.01, bias -4.6) every anchor scores ~0.011, no box
    passes ``score_thr`` and the top scores tie to ~1e-8; with a plain wider draw every empty
    cell of the grid gets the same (high) score. In both cases which boxes survive
    ``nms_pre``/``max_num`` is decided by float rounding or index order, not by the network,
    and a box-level parity check means nothing. Random weights are fine for parity and
    latency, not for accuracy.

    Args:
        model_cfg: detector config (``cfg.model``) of a PointPillars-family model.
        path: checkpoint to write (runner layout ``{'state_dict', 'meta'}``).
        seed: torch seed of the draws.
        background_logit: largest logit of an empty cell.

    Returns:
        The saved state dict.
    """
    init_default_scope('mmdet3d')  # stock mmdet3d configs carry no default_scope
    state = save_random_teacher(model_cfg, path, wrap=False, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    if model_cfg.get('type') == 'CenterPoint':
        state = _calibrate_heatmaps(model_cfg, state, gen, background_logit, cls_gain)
        torch.save({'state_dict': state, 'meta': {}}, str(path))
        return state
    weight = state['bbox_head.conv_cls.weight']
    state['bbox_head.conv_cls.weight'] = torch.randn(
        weight.shape, generator=gen) * cls_gain / float(weight.shape[1]) ** 0.5
    state['bbox_head.conv_cls.bias'] = torch.zeros_like(state['bbox_head.conv_cls.bias'])
    cls_scores = _head_on_empty_canvas(model_cfg, state)[0]
    empty_logits = torch.stack([c.amax(dim=(0, 2, 3)) for c in cls_scores])
    state['bbox_head.conv_cls.bias'] = background_logit - empty_logits.amax(dim=0)
    torch.save({'state_dict': state, 'meta': {}}, str(path))
    return state


def _calibrate_heatmaps(model_cfg, state, gen, background_logit: float, cls_gain: float):
    """:func:`save_random_detector` for a ``CenterHead``: each task's last heatmap conv is
    redrawn (std ``cls_gain / sqrt(C_in)``) and its bias set so that an all-zero canvas scores
    at most ``background_logit`` in every class channel."""
    keys = sorted(k for k in state if '.heatmap.' in k and k.endswith('.weight')
                  and state[k].dim() == 4 and state[k].shape[0] < state[k].shape[1])
    for key in keys:  # the final conv of every task: fewer outputs (classes) than inputs
        w = state[key]
        state[key] = torch.randn(w.shape, generator=gen) * cls_gain / float(
            w.shape[1] * w.shape[2] * w.shape[3]) ** 0.5
        state[key[:-len('weight')] + 'bias'] = torch.zeros(w.shape[0])
    per_task = _head_on_empty_canvas(model_cfg, state, prefix='pts_')
    for t, levels in enumerate(per_task):
        bias = f'pts_bbox_head.task_heads.{t}.heatmap.1.bias'
        state[bias] = background_logit - levels[0]['heatmap'].amax(dim=(0, 2, 3))
    return state


def _head_on_empty_canvas(model_cfg, state, prefix: str = ''):
    """The raw head output of ``model_cfg`` with weights ``state`` on an all-zero BEV canvas
    (``prefix='pts_'`` for multi-modality detectors such as CenterPoint)."""
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.load_state_dict(state, strict=True)
    model.eval()
    middle = model_cfg[prefix + 'middle_encoder']
    ny, nx = middle['output_shape']
    empty = torch.zeros(1, middle['in_channels'], ny, nx)
    neck = getattr(model, prefix + 'neck', None)
    with torch.no_grad():
        feats = getattr(model, prefix + 'backbone')(empty)
        feats = neck(feats) if neck is not None else feats
        return getattr(model, prefix + 'bbox_head')(feats)
