"""Inference with a trained detector or distiller: load it, load a frame, predict, read the
frame's ground truth (one API for the tools, the zoo, the quickstart and the pictures).

    model, cfg = load_detector('configs/sim/pointpillars-16x_...py', 'student.pth')
    data = load_frame(cfg, 'data/sim_kitti/training/velodyne/000300.bin')
    pred = predict_frame(model, data)          # boxes (P, 7), scores (P,), labels (P,)
    gt_boxes, gt_names = gt_from_info('data/sim_kitti/kitti_infos_val.pkl', 300)

A PointDistiller checkpoint loads as well: its config's teacher is taken from the checkpoint
when ``model.teacher_ckpt`` is not on this machine.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
import pickle
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmdet3d.registry import MODELS
from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes, get_box_type

from ..compat import safe_torch_load
from ..models.distillers.state_dict import TEACHER, sub_state_dict
from ..utils.kitti_classes import INFO_CATEGORIES

__all__ = ['load_detector', 'load_frame', 'gt_from_info', 'predict_frame']


def _teacher_state_file(checkpoint: str) -> str:
    """Write the ``teacher.*`` weights of a PointDistiller checkpoint to a temporary file.

    Returns:
        str: path of a plain teacher checkpoint (``{'state_dict': ...}``).
    """
    ckpt = safe_torch_load(checkpoint, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    teacher = sub_state_dict(state, TEACHER)
    if not teacher:
        raise ValueError(f'{checkpoint} holds no teacher.* weights, and the config\'s '
                         f'model.teacher_ckpt does not exist; pass --cfg-options '
                         f'model.teacher_ckpt=<teacher checkpoint>')
    fd, path = tempfile.mkstemp(suffix='_teacher.pth')
    os.close(fd)
    torch.save({'state_dict': teacher}, path)
    return path


def load_detector(config: Union[str, Any], checkpoint: Optional[str] = None,
                  cfg_options: Optional[dict] = None, device: str = 'cpu'):
    """Build the model of ``config``, load ``checkpoint`` and switch to ``eval()``.

    A PointDistiller config (``model.type='PointDistillerDetector'``, ``distill=True``) whose
    ``model.teacher_ckpt`` does not exist takes its teacher from ``checkpoint`` (a distillation
    checkpoint carries its frozen teacher), so a finished run can be visualised anywhere.

    Args:
        config: config file or :class:`mmengine.Config`.
        checkpoint: weights to load (``None``: random initialisation).
        cfg_options: overrides merged into the config.
        device: torch device.

    Returns:
        tuple: ``(model, cfg)``; ``model.dataset_meta['classes']`` holds the class names.
    """
    cfg = Config.fromfile(config) if isinstance(config, (str, Path)) else copy.deepcopy(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet3d'))
    model_cfg = copy.deepcopy(cfg.model)
    tmp = None
    if model_cfg.get('type') == 'PointDistillerDetector' and model_cfg.get('distill', True):
        ckpt = model_cfg.get('teacher_ckpt')
        if not (ckpt and osp.isfile(osp.expanduser(str(ckpt)))):
            if checkpoint is None:
                raise ValueError(f'model.teacher_ckpt={ckpt!r} does not exist and no '
                                 f'checkpoint was given to take the teacher from')
            tmp = _teacher_state_file(checkpoint)
            model_cfg.teacher_ckpt = tmp
    try:
        model = MODELS.build(model_cfg)
    finally:
        if tmp is not None:
            os.remove(tmp)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True,
                        logger='silent')
    classes = cfg.get('class_names') or cfg.get('metainfo', {}).get('classes')
    if not classes:
        raise KeyError(f'config {getattr(cfg, "filename", config)} defines neither '
                       f'class_names nor metainfo.classes')
    model.dataset_meta = dict(classes=list(classes))
    model.cfg = cfg
    return model.to(device).eval(), cfg


def load_frame(cfg, points_file: str) -> dict:
    """Run the config's test pipeline on one ``.bin`` file (float32 x, y, z, intensity).

    Returns:
        dict: a collated batch of one sample (``inputs`` with ``points``, ``data_samples``).
    """

    if not osp.isfile(points_file):
        raise FileNotFoundError(f'points file {points_file} does not exist')
    pipeline = Compose(copy.deepcopy(cfg.test_dataloader.dataset.pipeline))
    box_type_3d, box_mode_3d = get_box_type(
        cfg.test_dataloader.dataset.get('box_type_3d', 'LiDAR'))
    data = pipeline(dict(lidar_points=dict(lidar_path=str(points_file)), timestamp=1,
                         box_type_3d=box_type_3d, box_mode_3d=box_mode_3d,
                         sample_idx=Path(points_file).stem))
    return pseudo_collate([data])


def gt_from_info(info_file: str, sample: Union[str, int, None] = None
                 ) -> Tuple[np.ndarray, List[str]]:
    """Ground-truth LiDAR boxes of one frame of an mmdet3d KITTI info file.

    Args:
        info_file: ``kitti_infos_*.pkl`` (or a one-frame info such as ``000008.pkl``).
        sample: ``sample_idx`` (int or file stem like ``'000300'``); ``None`` takes the
            only frame of a one-frame file.

    Returns:
        tuple: (K, 7) float array ``x, y, z, dx, dy, dz, yaw`` (LiDAR frame, mmdet3d
        convention, bottom centre) and the K class names.
    """

    with open(info_file, 'rb') as f:
        data = pickle.load(f)
    frames = data['data_list']
    cats = data.get('metainfo', {}).get('categories')
    names = ([n for n, _ in sorted(cats.items(), key=lambda kv: kv[1])] if cats
             else list(INFO_CATEGORIES))
    if sample is None:
        if len(frames) != 1:
            raise ValueError(f'{info_file} holds {len(frames)} frames; say which one '
                             f'(sample index)')
        info = frames[0]
    else:
        want = int(sample)
        found = [f for f in frames if int(f.get('sample_idx', f.get('sample_id', -1))) == want]
        if not found:
            raise KeyError(f'{info_file} has no frame with sample index {want}')
        info = found[0]
    inst = [i for i in info.get('instances', []) if i.get('bbox_label_3d', -1) >= 0]
    if not inst:
        return np.zeros((0, 7), dtype=np.float32), []
    lidar2cam = np.array(info['images']['CAM2']['lidar2cam'], dtype=np.float64)
    cam = CameraInstance3DBoxes(np.array([i['bbox_3d'] for i in inst], dtype=np.float32))
    lidar = cam.convert_to(Box3DMode.LIDAR, np.linalg.inv(lidar2cam))
    return lidar.tensor.numpy(), [names[i['bbox_label_3d']] for i in inst]


def predict_frame(model, data: dict) -> Dict[str, np.ndarray]:
    """Predicted boxes of one frame.

    Returns:
        dict: ``boxes`` (P, 7) LiDAR boxes, ``scores`` (P,), ``labels`` (P,) int.
    """
    with torch.no_grad():
        out = model.test_step(data)[0].pred_instances_3d
    return dict(boxes=out.bboxes_3d.tensor.cpu().numpy(), scores=out.scores_3d.cpu().numpy(),
                labels=out.labels_3d.cpu().numpy())
