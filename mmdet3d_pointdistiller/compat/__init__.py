"""Narrow compatibility shims, kept together here and activated by importing the package.

Each shim documents what it replaces, why, and for which versions, and is active only where
it is needed:

* :mod:`.checkpoint` — torch >= 2.6: mmengine checkpoints load with ``weights_only=True``
  and an exact allow-list (no global switch-off of the safety).
* :mod:`.kitti_iou` — no CUDA: ``KittiMetric``'s rotated IoU runs on mmcv's CPU kernel
  instead of numba.cuda.
* :mod:`.numpy_long` — numpy 1.24-1.26: ``ObjectSample``'s database sampler gets the
  ``np.long`` it still uses (mmdet3d #2821), scoped to that one module.
* :mod:`.point_ops_cpu` — no CUDA: CPU implementations of mmcv's CUDA-only point ops
  (FPS, gather/group, ball query, three_nn/interpolate, points_in_boxes, RoIPointPool3d)
  for CPU tensors, plus an exact pruned path for mmcv's O(N^2) CPU ``nms_rotated``, so
  PointRCNN trains and predicts.
* :mod:`.spconv_cpu` — no CUDA, spconv installed: spconv's CPU backward no longer asks
  for a CUDA stream, so SECOND trains.
* :mod:`.dist_cpu` — no CUDA: the runner's own ``--launcher pytorch`` start works (no
  ``torch.cuda.set_device``, ``nccl`` -> ``gloo``, no ``device_ids`` for a CPU module in
  ``MMDistributedDataParallel``).

:func:`activate` is idempotent; :data:`ACTIVE` records which shims are on in this process.
"""
from __future__ import annotations

from typing import Dict

from .checkpoint import (UnsafeCheckpointError, register_safe_checkpoint_loader,
                         safe_torch_load)
from .dist_cpu import register_dist_cpu
from .kitti_iou import register_kitti_cpu_iou, rotate_iou_cpu_eval
from .numpy_long import register_dbsampler_numpy_long
from .point_ops_cpu import register_point_ops_cpu
from .spconv_cpu import register_spconv_cpu

__all__ = ['activate', 'ACTIVE', 'UnsafeCheckpointError', 'safe_torch_load',
           'rotate_iou_cpu_eval']

ACTIVE: Dict[str, bool] = {}


def activate() -> Dict[str, bool]:
    """Turn on every shim this machine needs and return which ones are active."""
    ACTIVE['safe_checkpoint_loader'] = register_safe_checkpoint_loader()
    ACTIVE['kitti_cpu_iou'] = register_kitti_cpu_iou()
    ACTIVE['dbsampler_numpy_long'] = register_dbsampler_numpy_long()
    ACTIVE['point_ops_cpu'] = register_point_ops_cpu()
    ACTIVE['spconv_cpu'] = register_spconv_cpu()
    ACTIVE['dist_cpu'] = register_dist_cpu()
    return dict(ACTIVE)
