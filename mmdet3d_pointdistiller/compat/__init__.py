"""Narrow compatibility shims, kept together here and activated by importing the package.

Each shim documents what it replaces, why, and for which versions, and is active only where
it is needed:

* :mod:`.checkpoint` — torch >= 2.6: mmengine checkpoints load with ``weights_only=True``
  and an exact allow-list (no global switch-off of the safety).
* :mod:`.kitti_iou` — no CUDA: ``KittiMetric``'s rotated IoU runs on mmcv's CPU kernel
  instead of numba.cuda.

:func:`activate` is idempotent; :data:`ACTIVE` records which shims are on in this process.
"""
from __future__ import annotations

from typing import Dict

from .checkpoint import (UnsafeCheckpointError, register_safe_checkpoint_loader,
                         safe_torch_load)
from .kitti_iou import register_kitti_cpu_iou, rotate_iou_cpu_eval

__all__ = ['activate', 'ACTIVE', 'UnsafeCheckpointError', 'safe_torch_load',
           'rotate_iou_cpu_eval']

ACTIVE: Dict[str, bool] = {}


def activate() -> Dict[str, bool]:
    """Turn on every shim this machine needs and return which ones are active."""
    ACTIVE['safe_checkpoint_loader'] = register_safe_checkpoint_loader()
    ACTIVE['kitti_cpu_iou'] = register_kitti_cpu_iou()
    return dict(ACTIVE)
