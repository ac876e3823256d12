"""``AddZeroVelocity``: KITTI-format boxes for mmdet3d's ``CenterHead`` training targets.

mmdet3d 1.4's ``CenterHead.get_targets_single`` reads every ground-truth box as nine values
(``x, y, z, dx, dy, dz, yaw, vx, vy``: ``vx, vy = task_boxes[idx][k][7:]``, marked upstream
"TODO: support other outdoor dataset") and ``loss_by_feat`` concatenates a ``vel`` head's
output, so a CenterPoint cannot train on KITTI-format data, whose boxes have seven. Instead of
changing the head, this transform gives each training box a zero velocity; the configs that
use it keep the ``vel`` head (2 channels) and set its two ``code_weights`` to 0, so the
velocity channels receive no gradient and play no part in training. Predicted boxes then have
nine values, which KITTI evaluation ignores beyond the seventh (``Box3DMode.convert`` carries
them along).
"""
from __future__ import annotations

import torch
from mmcv.transforms import BaseTransform

from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures import LiDARInstance3DBoxes

__all__ = ['AddZeroVelocity']


@TRANSFORMS.register_module()
class AddZeroVelocity(BaseTransform):
    """Append ``vx = vy = 0`` to 7-value ``gt_bboxes_3d`` (LiDAR boxes); 9-value boxes pass.

    Place it after the transforms that move, sample or filter boxes (``ObjectSample``,
    ``GlobalRotScaleTrans``, ``ObjectRangeFilter``) and before ``Pack3DDetInputs``.

    Required keys: ``gt_bboxes_3d`` (``LiDARInstance3DBoxes``, N x 7 or N x 9).
    Modified keys: ``gt_bboxes_3d`` (N x 9, same origin, ``with_yaw``).
    """

    def transform(self, results: dict) -> dict:
        boxes = results.get('gt_bboxes_3d')
        if boxes is None:
            raise KeyError("AddZeroVelocity needs 'gt_bboxes_3d'; put it after "
                           'LoadAnnotations3D in the training pipeline')
        if not isinstance(boxes, LiDARInstance3DBoxes):
            raise TypeError(f'AddZeroVelocity expects LiDARInstance3DBoxes, got '
                            f'{type(boxes).__name__}')
        if boxes.box_dim == 9:
            return results
        if boxes.box_dim != 7:
            raise ValueError(f'AddZeroVelocity expects boxes of 7 values (KITTI) or 9 (with '
                             f'velocity), got {boxes.box_dim}')
        tensor = torch.cat([boxes.tensor, boxes.tensor.new_zeros(len(boxes), 2)], dim=1)
        results['gt_bboxes_3d'] = LiDARInstance3DBoxes(tensor, box_dim=9, with_yaw=True,
                                                       origin=(0.5, 0.5, 0))
        return results
