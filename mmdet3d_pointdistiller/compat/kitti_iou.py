"""Correct, fast rotated-box IoU for ``KittiMetric`` on machines without CUDA.

What it replaces
    ``mmdet3d.evaluation.functional.kitti_utils.rotate_iou.rotate_iou_gpu_eval``, the
    numba.cuda kernel that ``bev_box_overlap`` and ``d3_box_overlap`` of ``eval.py`` import
    from that module at call time (``from .rotate_iou import rotate_iou_gpu_eval``). Nothing
    else of mmdet3d's KITTI evaluation is touched or copied.

Why
    mmdet3d 1.4.0 computes BEV/3D rotated IoU with numba.cuda and raises
    ``CudaSupportError`` on a CPU-only machine. ``NUMBA_ENABLE_CUDASIM=1`` makes it run but
    returns wrong values (IoU 0.333 for two identical boxes, so BEV/3D AP collapse to 0)
    and is slow (~0.5 ms per box pair).

    On a machine without a CUDA driver the module ``rotate_iou.py`` cannot even be
    imported (numba compiles its ``@cuda.jit`` kernels with explicit signatures at import
    time and raises ``CudaSupportError``).

How
    :func:`rotate_iou_cpu_eval` has the exact signature and semantics of
    ``rotate_iou_gpu_eval`` (boxes ``(x, y, dx, dy, angle)`` in KITTI's camera-frame BEV
    layout, corners ``c + R(-angle) @ v``, i.e. clockwise-positive rotation with y up;
    criterion -1 = IoU, 0 = inter/area(boxes), 1 = inter/area(query_boxes), 2 = intersection
    area — the 3D path multiplies the last by the height overlap itself) and computes the polygon
    intersection with mmcv's compiled ``box_iou_rotated`` CPU kernel. When the original
    module is importable (numba's CUDA simulator) its attribute is swapped; when it is not,
    a stand-in module holding only ``rotate_iou_gpu_eval`` is placed in ``sys.modules``
    under the original name, which is what ``eval.py``'s function-level import resolves.

Versions
    Written for mmdet3d 1.4.0 + mmcv 2.1.0. Active only when CUDA is unavailable to torch
    or numba's CUDA simulator is switched on; with real CUDA the original kernel is kept.
"""
from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import torch
from mmcv.ops import box_iou_rotated
from numba import config as numba_config

__all__ = ['rotate_iou_cpu_eval', 'kitti_cpu_iou_needed', 'register_kitti_cpu_iou']

_EVAL_MODULE = 'mmdet3d.evaluation.functional.kitti_utils.rotate_iou'
_EVAL_ATTR = 'rotate_iou_gpu_eval'


def rotate_iou_cpu_eval(boxes: np.ndarray,
                        query_boxes: np.ndarray,
                        criterion: int = -1,
                        device_id: int = 0) -> np.ndarray:
    """Drop-in CPU replacement of mmdet3d's ``rotate_iou_gpu_eval``.

    Args:
        boxes (np.ndarray): (N, 5) rotated BEV boxes ``(x, y, dx, dy, angle)``.
        query_boxes (np.ndarray): (K, 5) boxes in the same layout.
        criterion (int): -1 IoU, 0 inter/area(boxes), 1 inter/area(query_boxes),
            anything else: the intersection area.
        device_id (int): ignored, kept for signature compatibility.

    Returns:
        np.ndarray: (N, K) overlaps in ``boxes.dtype``.
    """
    n, k = boxes.shape[0], query_boxes.shape[0]
    if n == 0 or k == 0:
        return np.zeros((n, k), dtype=boxes.dtype)
    b1 = torch.from_numpy(np.ascontiguousarray(boxes, dtype=np.float32))
    b2 = torch.from_numpy(np.ascontiguousarray(query_boxes, dtype=np.float32))
    # rotate_iou.py places corners at c + R(-angle) v (x right, y up: clockwise-positive).
    # mmcv's flag is named for image axes (y down), where that same rotation is its
    # clockwise=False; tests/test_kitti_cpu_iou.py pins this against exact polygons.
    iof = box_iou_rotated(b1, b2, mode='iof', aligned=False, clockwise=False)
    area1 = (b1[:, 2] * b1[:, 3])[:, None]
    area2 = (b2[:, 2] * b2[:, 3])[None, :]
    inter = iof * area1
    if criterion == -1:
        out = inter / (area1 + area2 - inter)
    elif criterion == 0:
        out = iof
    elif criterion == 1:
        out = inter / area2
    else:
        out = inter
    return out.numpy().astype(boxes.dtype)


def kitti_cpu_iou_needed() -> bool:
    """Whether mmdet3d's numba.cuda IoU kernel cannot give correct results here."""
    if not torch.cuda.is_available():
        return True
    return bool(getattr(numba_config, 'ENABLE_CUDASIM', 0))


def register_kitti_cpu_iou() -> bool:
    """Swap ``rotate_iou_gpu_eval`` in mmdet3d's KITTI ``rotate_iou`` module when needed.

    Returns:
        bool: whether the CPU routine is now in use.
    """
    if not kitti_cpu_iou_needed():
        return False
    module = sys.modules.get(_EVAL_MODULE)
    if module is None and not _original_importable():
        module = types.ModuleType(
            _EVAL_MODULE, 'CPU stand-in installed by mmdet3d_pointdistiller.compat.kitti_iou: '
            'the numba.cuda original cannot be imported without a CUDA driver.')
        sys.modules[_EVAL_MODULE] = module
    elif module is None:
        module = importlib.import_module(_EVAL_MODULE)
    setattr(module, _EVAL_ATTR, rotate_iou_cpu_eval)
    return True


def _original_importable() -> bool:
    """Whether numba can compile mmdet3d's CUDA kernels (real driver or simulator)."""
    if getattr(numba_config, 'ENABLE_CUDASIM', 0):
        return True
    # lazy: numba.cuda is loaded only where this shim is needed (not with CUDA, PD_COMPAT=0)
    from numba import cuda
    return bool(cuda.is_available())
