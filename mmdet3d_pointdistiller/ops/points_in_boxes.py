"""CPU kernels of mmcv's ``points_in_boxes_part`` and ``points_in_boxes_all``.

Replace ``points_in_boxes_part/all_forward_cuda_kernel`` and their ``check_pt_in_box3d``
(``mmcv/ops/csrc/common/cuda/points_in_boxes_cuda_kernel.cuh``, mmcv 2.1.0).

Notation
    B batch items, M points (B, M, 3), T boxes (B, T, 7) ``(x, y, z, dx, dy, dz, rz)``
    with ``z`` the bottom centre, LiDAR/Depth frame. ``points_in_boxes_part`` returns the
    first containing box per point (B, M) int32, -1 for none; ``points_in_boxes_all`` the
    (B, M, T) int32 membership.

Semantics
    Only candidate pairs from a BEV grid within each box's half-diagonal plus a margin are
    tested (:func:`box_point_pairs`, also used by RoIPointPool3d), each with the kernel's
    exact ``check_pt_in_box3d`` arithmetic, so results equal the all-pairs evaluation.
"""
from __future__ import annotations

import math
from typing import Iterator, Tuple

import torch
from torch import Tensor

from ._common import grid_candidates

__all__ = [
    'points_in_boxes_flags_cpu', 'points_in_boxes_part_cpu', 'points_in_boxes_all_cpu',
    'box_point_pairs'
]


def _box_terms(boxes: Tensor) -> Tensor:
    """Per-box terms of ``check_pt_in_box3d``: (T, 7) -> (T, 8).

    Columns: ``cx, cy, cz + dz/2, dz/2, dx/2, dy/2, cos(-rz), sin(-rz)``, each computed once
    per box in the input dtype exactly as the kernel computes it per pair.
    """
    cx, cy, cz, dx, dy, dz, rz = (boxes[:, i] for i in range(7))
    return torch.stack([cx, cy, cz + dz / 2, dz / 2, dx / 2, dy / 2,
                        torch.cos(-rz), torch.sin(-rz)], dim=1)


def _inside(x: Tensor, y: Tensor, z: Tensor, terms: Tensor) -> Tensor:
    """``check_pt_in_box3d`` of the kernels; ``terms[..., k]`` broadcast against x, y, z."""
    cx, cy, cz, half_z, half_x, half_y, cosa, sina = terms.unbind(-1)
    inside = ~((z - cz).abs() > half_z)
    sx, sy = x - cx, y - cy
    lx = sx * cosa + sy * (-sina)
    ly = sx * sina + sy * cosa
    inside &= (lx > -half_x) & (lx < half_x)
    inside &= (ly > -half_y) & (ly < half_y)
    return inside


def points_in_boxes_flags_cpu(points: Tensor, boxes: Tensor) -> Tensor:
    """Point-in-box test of mmcv's ``check_pt_in_box3d`` for every (point, box) pair.

    Boxes are ``(x, y, z, dx, dy, dz, rz)`` with ``z`` the bottom centre, LiDAR/Depth frame.
    A point is inside when not ``|z - (cz + dz/2)| > dz/2`` and its coordinates in the box
    frame (``cos(-rz)``, ``sin(-rz)``) satisfy ``-dx/2 < lx < dx/2``, ``-dy/2 < ly < dy/2``.

    Args:
        points (Tensor): (P, 3).
        boxes (Tensor): (T, 7).

    Returns:
        Tensor: (P, T) bool.
    """
    return _inside(points[:, 0:1], points[:, 1:2], points[:, 2:3], _box_terms(boxes))


def box_point_pairs(points: Tensor, boxes: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
    """All (point, box) pairs with the point inside the box, in chunks.

    A point inside a box lies within the box's BEV half-diagonal of its centre in x and y,
    so :func:`grid_candidates` with that reach (plus a margin far above rounding error)
    misses no inside pair; each candidate gets the kernel's exact test with per-box terms
    (:func:`_box_terms`). Boxes with NaN x, y, dx, dy or yaw, or non-finite x, y, and
    points with non-finite x or y contain / lie in nothing in the kernel's arithmetic.

    Args:
        points (Tensor): (N, 3).
        boxes (Tensor): (T, 7).

    Yields:
        tuple[Tensor, Tensor]: int64 point and box indices of inside pairs.
    """
    b64 = boxes.double()
    reach = 0.5 * torch.sqrt(b64[:, 3]**2 + b64[:, 4]**2) * (1 + 1e-3) + 1e-6
    reach[torch.isnan(b64[:, [3, 4, 6]]).any(dim=1)] = math.nan
    terms = _box_terms(boxes)
    for bx, pt in grid_candidates(points[:, :2].double(), b64[:, :2], reach):
        xyz = points[pt]
        inside = _inside(xyz[:, 0], xyz[:, 1], xyz[:, 2], terms[bx])
        yield pt[inside], bx[inside]


def _check_points_boxes(points: Tensor, boxes: Tensor) -> None:
    """mmcv's argument checks of ``points_in_boxes_*``."""
    assert points.shape[0] == boxes.shape[0], \
        'Points and boxes should have the same batch size, ' \
        f'but got {points.shape[0]} and {boxes.shape[0]}'
    assert boxes.shape[2] == 7, \
        f'boxes dimension should be 7, but got unexpected shape {boxes.shape[2]}'
    assert points.shape[2] == 3, \
        f'points dimension should be 3, but got unexpected shape {points.shape[2]}'
    assert points.device == boxes.device, 'Points and boxes should be put on the same device'


def points_in_boxes_part_cpu(points: Tensor, boxes: Tensor) -> Tensor:
    """Index of the first box containing each point, -1 for none (``points_in_boxes_part``).

    Args:
        points (Tensor): (B, M, 3).
        boxes (Tensor): (B, T, 7).

    Returns:
        Tensor: (B, M) int32.
    """
    _check_points_boxes(points, boxes)
    batch, m = points.shape[:2]
    t = boxes.shape[1]
    out = torch.full((batch, m), -1, dtype=torch.int32)
    for b in range(batch if t and m else 0):
        first = torch.full((m, ), t, dtype=torch.int64)
        for pt, bx in box_point_pairs(points[b], boxes[b]):
            first.scatter_reduce_(0, pt, bx, reduce='amin')
        out[b] = torch.where(first < t, first, -1).to(torch.int32)
    return out


def points_in_boxes_all_cpu(points: Tensor, boxes: Tensor) -> Tensor:
    """Membership of every point in every box (``points_in_boxes_all``).

    Args:
        points (Tensor): (B, M, 3).
        boxes (Tensor): (B, T, 7).

    Returns:
        Tensor: (B, M, T) int32, 1 where the point is inside the box.
    """
    _check_points_boxes(points, boxes)
    batch, m = points.shape[:2]
    t = boxes.shape[1]
    out = torch.zeros((batch, m, t), dtype=torch.int32)
    for b in range(batch if t and m else 0):
        for pt, bx in box_point_pairs(points[b], boxes[b]):
            out[b, pt, bx] = 1
    return out
