"""Shared test helpers of mmdet3d-pointdistiller, like ``mmdet3d.testing``.

The test files import their common helpers from here and never from each other:

* :mod:`.data`: the test data folder (``$PD_TEST_DATA``, set by ``tests/conftest.py`` from
  ``--pd-data``) and the real-frame check;
* :mod:`.configs`: the shipped distillation configs cropped to small point-cloud ranges,
  the small PointPillars distiller and model building;
* :mod:`.frames`: the real KITTI frame 000008 through mmdet3d's ``KittiDataset``;
* :mod:`.sim_data`: a small simulated KITTI-format set converted by mmdet3d's converter;
* :mod:`.pickle_payload`: a pickled object whose loading runs code;
* :mod:`.dense_reference`: the dense re-implementation of ``PointDistillerLoss`` that the
  loss tests and the KD-overhead benchmark measure against (never used in training).

Nothing in the package's training path imports this subpackage.
"""
from .configs import (CP_NUS_KD, CP_SIM, CP_SIM_KD, NUS_KD, PP_CROP, PP_KD, RCNN_KD, REPO_ROOT,
                      SECOND_CROP, SECOND_KD, SMALL_CROP, build_model, crop_centerpoint,
                      crop_voxelnet, kd_config, small_distiller_cfg)
from .data import (DATA_ENV, KITTI_FRAME, data_root, kitti_mini_dir, kitti_real_dir,
                   need_kitti_frame)
from .frames import CLASSES, frames, kitti_frame
from .pickle_payload import PicklePayload
from .sim_data import convert_sim_kitti

__all__ = [
    'CP_NUS_KD', 'CP_SIM', 'CP_SIM_KD', 'convert_sim_kitti', 'crop_centerpoint',
    'CLASSES', 'DATA_ENV', 'KITTI_FRAME', 'NUS_KD', 'PP_CROP', 'PP_KD', 'PicklePayload',
    'RCNN_KD', 'REPO_ROOT', 'SECOND_CROP', 'SECOND_KD', 'SMALL_CROP', 'build_model',
    'crop_voxelnet', 'data_root', 'frames', 'kd_config', 'kitti_frame', 'kitti_mini_dir',
    'kitti_real_dir', 'need_kitti_frame', 'small_distiller_cfg',
]
