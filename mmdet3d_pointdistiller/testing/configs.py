"""Shipped distillation configs, cropped to small point-cloud ranges for fast CPU tests.

The architectures stay those of the shipped configs; only the point-cloud range (and with it
the BEV grid, the sparse shape and the anchor ranges) shrinks, so a real detector runs on the
real KITTI frame in seconds. Teachers are randomly initialised and saved inside the tests.
"""
import copy
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import torch
from mmengine.config import Config, ConfigDict

from mmdet3d.registry import MODELS

from ..models.distillers import load_teacher_config
from ..utils import save_random_teacher
from ..utils.paths import checkout_root

#: the source checkout the package sits in (the helpers read its ``configs/``)
REPO_ROOT = checkout_root()
_PD = REPO_ROOT / 'configs' / 'pointdistiller'
PP_KD = _PD / 'pointdistiller_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
SECOND_KD = _PD / 'pointdistiller_second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py'
RCNN_KD = _PD / 'pointdistiller_point-rcnn-16x_8xb2_kitti-3d-3class.py'
NUS_KD = _PD / 'pointdistiller_pointpillars-4x_hv_fpn_sbn-all_8xb4-2x_nus-3d.py'
CP_NUS_KD = _PD / ('pointdistiller_centerpoint-4x_pillar02_second_secfpn_head-circlenms_'
                   '8xb4-cyclic-20e_nus-3d.py')
_SIM = REPO_ROOT / 'configs' / 'sim'
CP_SIM = _SIM / 'centerpoint_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
CP_SIM_KD = _SIM / ('pointdistiller-centerhead-kd_centerpoint-16x_pillar032_second_secfpn_'
                    '1xb2-cpu_sim-kitti-3d-3class.py')

#: PointPillars: 34.56 m x 39.68 m instead of 69.12 m x 79.36 m (BEV grid 216 x 248)
PP_CROP = [0, -19.84, -3, 34.56, 19.84, 1]
#: SECOND: 25.6 m x 20 m (sparse shape 41 x 400 x 512)
SECOND_CROP = [0, -10.0, -3, 25.6, 10.0, 1]
#: 20.48 m x 20.48 m around the cars of frame 000008: a 128 x 128 pillar grid
SMALL_CROP = [0, -10.24, -3, 20.48, 10.24, 1]

__all__ = ['CP_NUS_KD', 'CP_SIM', 'CP_SIM_KD', 'NUS_KD', 'PP_CROP', 'PP_KD', 'RCNN_KD',
           'REPO_ROOT', 'SECOND_CROP', 'SECOND_KD', 'SMALL_CROP', 'build_model',
           'crop_centerpoint', 'crop_voxelnet', 'kd_config', 'small_distiller_cfg']


def crop_voxelnet(model_cfg: ConfigDict, crop: Sequence[float]) -> None:
    """Restrict a KITTI VoxelNet config (PointPillars or SECOND) to ``crop``, in place.

    Args:
        model_cfg: the detector's model config (``data_preprocessor``, ``voxel_encoder``,
            ``middle_encoder``, ``bbox_head`` with an anchor generator).
        crop: the new point-cloud range ``[x0, y0, z0, x1, y1, z1]``.
    """
    model_cfg.data_preprocessor.voxel_layer.point_cloud_range = list(crop)
    vs = model_cfg.data_preprocessor.voxel_layer.voxel_size
    nx = round((crop[3] - crop[0]) / vs[0])
    ny = round((crop[4] - crop[1]) / vs[1])
    nz = round((crop[5] - crop[2]) / vs[2])
    if model_cfg.middle_encoder.type == 'PointPillarsScatter':
        model_cfg.voxel_encoder.point_cloud_range = list(crop)
        model_cfg.middle_encoder.output_shape = [ny, nx]
    else:
        model_cfg.middle_encoder.sparse_shape = [nz + 1, ny, nx]
    for r in model_cfg.bbox_head.anchor_generator.ranges:
        r[0], r[1], r[3], r[4] = crop[0], crop[1], crop[3], crop[4]


def crop_centerpoint(model_cfg: ConfigDict, crop: Sequence[float]) -> None:
    """Restrict a pillar ``CenterPoint`` config to ``crop``, in place (same architecture).

    Args:
        model_cfg: the detector's model config (``pts_voxel_encoder``, ``pts_middle_encoder``,
            ``pts_bbox_head`` with a ``CenterPointBBoxCoder``, ``train_cfg.pts``,
            ``test_cfg.pts``).
        crop: the new point-cloud range ``[x0, y0, z0, x1, y1, z1]``.
    """
    model_cfg.data_preprocessor.voxel_layer.point_cloud_range = list(crop)
    model_cfg.pts_voxel_encoder.point_cloud_range = list(crop)
    vs = model_cfg.data_preprocessor.voxel_layer.voxel_size
    nx = round((crop[3] - crop[0]) / vs[0])
    ny = round((crop[4] - crop[1]) / vs[1])
    model_cfg.pts_middle_encoder.output_shape = [ny, nx]
    model_cfg.pts_bbox_head.bbox_coder.pc_range = list(crop[:2])
    model_cfg.train_cfg.pts.point_cloud_range = list(crop)
    model_cfg.train_cfg.pts.grid_size = [nx, ny, 1]
    model_cfg.test_cfg.pts.pc_range = list(crop[:2])


def kd_config(path: Union[str, Path], crop: Optional[Sequence[float]] = None,
              teacher_edit: Optional[Callable[[ConfigDict], None]] = None) -> Config:
    """The shipped distillation config with the teacher resolved to a (cropped) dict.

    Args:
        path: a distillation config file.
        crop: if given, student and teacher are cropped to it (:func:`crop_voxelnet`).
        teacher_edit: called on the resolved teacher config (after cropping).

    Returns:
        Config: the whole config; ``model.teacher`` is a model dict, not a file name.
    """
    cfg = Config.fromfile(str(path))
    teacher = load_teacher_config(cfg.model.teacher)
    if crop is not None:
        crop_voxelnet(cfg.model.student, crop)
        crop_voxelnet(teacher, crop)
    if teacher_edit is not None:
        teacher_edit(teacher)
    cfg.model.teacher = teacher
    return cfg


def small_distiller_cfg(tmp_dir: Path) -> Config:
    """The shipped PointPillars 4x distillation config on :data:`SMALL_CROP`, N=200, K=16,
    with a random teacher saved to ``tmp_dir/teacher.pth``.

    Returns:
        Config: only ``model``.
    """
    cfg = kd_config(PP_KD, SMALL_CROP)
    ckpt = tmp_dir / 'teacher.pth'
    save_random_teacher(cfg.model.teacher, ckpt)
    cfg.model.teacher_ckpt = str(ckpt)
    cfg.model.distill_cfg[0].loss.update(num_queries=200, num_neighbors=16)
    return Config(dict(model=cfg.model.to_dict()))


def build_model(model_cfg: ConfigDict, seed: int = 0) -> torch.nn.Module:
    """Build ``model_cfg`` with torch seed ``seed``, run ``init_weights`` and set train mode."""
    torch.manual_seed(seed)
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    model.train()
    return model
