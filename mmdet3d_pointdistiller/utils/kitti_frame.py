"""Load one KITTI frame through mmdet3d's own ``KittiDataset`` and stock transforms.

Used by the tests and the benchmarks that run real detectors on the real KITTI frame 000008
(``000008.bin`` + an mmdet3d info ``000008.pkl``, in the ``kitti_real/`` folder of the test data
that ``$PD_TEST_DATA`` or pytest's ``--pd-data`` names): boxes come from the info file and go
camera -> LiDAR through mmdet3d's dataset code, exactly as in training.
"""
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmengine.registry import init_default_scope

from mmdet3d.registry import DATASETS

from .kitti_classes import THREE_CLASSES


def kitti_frame_pipeline(point_cloud_range: Sequence[float], train: bool,
                         num_points: Optional[int] = None,
                         sample_range: Optional[float] = 40.0,
                         extra_transforms: Sequence[dict] = ()) -> list:
    """The transforms of a stock KITTI pipeline without augmentation.

    Args:
        point_cloud_range: ``[x0, y0, z0, x1, y1, z1]`` of ``PointsRangeFilter`` (and
            ``ObjectRangeFilter`` when ``train``).
        train: also load and range-filter the ground-truth boxes.
        num_points: ``PointSample`` to this many points (PointRCNN: 16384); ``None`` keeps all.
        sample_range: ``PointSample.sample_range`` (the stock PointRCNN value is 40 m).
        extra_transforms: inserted before ``Pack3DDetInputs``.
    """
    pcr = list(point_cloud_range)
    pipeline = [dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4)]
    if train:
        pipeline.append(dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True))
    pipeline.append(dict(type='PointsRangeFilter', point_cloud_range=pcr))
    if train:
        pipeline.append(dict(type='ObjectRangeFilter', point_cloud_range=pcr))
    if num_points is not None:
        pipeline.append(dict(type='PointSample', num_points=num_points,
                             sample_range=sample_range))
    pipeline.extend(extra_transforms)
    keys = ['points', 'gt_bboxes_3d', 'gt_labels_3d'] if train else ['points']
    pipeline.append(dict(type='Pack3DDetInputs', keys=keys))
    return pipeline


def load_kitti_frame(frame_dir: Union[str, Path], point_cloud_range: Sequence[float],
                     train: bool = True, num_points: Optional[int] = None,
                     ann_file: str = '000008.pkl', classes: Sequence[str] = THREE_CLASSES,
                     extra_transforms: Sequence[dict] = (), seed: int = 0) -> Dict:
    """One packed sample (``dict(inputs=..., data_samples=...)``) of a KITTI-format frame.

    Args:
        frame_dir: folder holding ``ann_file`` and the ``.bin`` it names.
        point_cloud_range: the detector's ``point_cloud_range``.
        train: pack ground truth (``gt_bboxes_3d``, ``gt_labels_3d``) as for ``loss``.
        num_points: ``PointSample`` size (point-based detectors), else all points.
        seed: numpy seed set before the transforms run (``PointSample`` is random).

    Raises:
        FileNotFoundError: naming the missing file.
    """
    frame_dir = Path(frame_dir)
    if not (frame_dir / ann_file).is_file():
        raise FileNotFoundError(f'KITTI info file {frame_dir / ann_file} not found')
    init_default_scope('mmdet3d')
    dataset = DATASETS.build(dict(
        type='KittiDataset', data_root=str(frame_dir) + '/', ann_file=ann_file,
        data_prefix=dict(pts=''), metainfo=dict(classes=list(classes)),
        modality=dict(use_lidar=True, use_camera=False), box_type_3d='LiDAR',
        test_mode=not train,
        pipeline=kitti_frame_pipeline(point_cloud_range, train, num_points,
                                      extra_transforms=extra_transforms)))
    np.random.seed(seed)
    return dataset[0]
