"""CPU kernel of mmcv's ``RoIPointPool3d``.

Replaces ``assign_pts_to_box3d``, ``get_pooled_idx`` and ``roipoint_pool3d_forward``
(``mmcv/ops/csrc/common/cuda/roipoint_pool3d_cuda_kernel.cuh``, mmcv 2.1.0).

Notation
    B batch items, N points (B, N, 3) with features (B, N, C), M boxes (B, M, 7)
    (bottom centres), S sampled points per box; the result is the pooled (B, M, S, 3 + C)
    and the int32 empty flag (B, M).

Semantics
    Takes the first S points of a box in index order (point-in-box test of
    :func:`~.points_in_boxes.box_point_pairs`), repeats them cyclically, and flags empty
    boxes with zero features. No gradient (as in mmcv).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from .points_in_boxes import box_point_pairs

__all__ = ['roipoint_pool3d_cpu']


def roipoint_pool3d_cpu(points: Tensor, point_features: Tensor, boxes3d: Tensor,
                        num_sampled_points: int = 512) -> Tuple[Tensor, Tensor]:
    """mmcv's ``RoIPointPool3d`` for CPU tensors.

    For each box, the first ``num_sampled_points`` points inside it (index order) are taken
    and repeated cyclically when fewer are inside; a box without points gets empty flag 1 and
    all-zero features.

    Args:
        points (Tensor): (B, N, 3).
        point_features (Tensor): (B, N, C).
        boxes3d (Tensor): (B, M, 7), bottom-centre boxes.
        num_sampled_points (int): S.

    Returns:
        tuple[Tensor, Tensor]: pooled features (B, M, S, 3 + C) (xyz then features) in
        ``point_features.dtype`` and the int32 empty flag (B, M).
    """
    assert len(points.shape) == 3 and points.shape[2] == 3
    batch, n = points.shape[:2]
    boxes_num, channels = boxes3d.shape[1], point_features.shape[2]
    boxes = boxes3d.view(batch, -1, 7)
    s_num = num_sampled_points
    pooled = point_features.new_zeros((batch, boxes_num, s_num, 3 + channels))
    empty = torch.zeros((batch, boxes_num), dtype=torch.int32)
    if boxes_num == 0 or s_num <= 0:
        return pooled, empty
    for b in range(batch):
        pairs = list(box_point_pairs(points[b], boxes[b]))
        idx = torch.zeros((boxes_num, s_num), dtype=torch.int64)
        counts = torch.zeros(boxes_num, dtype=torch.int64)
        if pairs:
            # (box, point) pairs box-major with points ascending, as the kernel scans them
            key = torch.sort(torch.cat([bx for _, bx in pairs]) * n
                             + torch.cat([pt for pt, _ in pairs])).values
            box_of, pt_of = key // n, key % n
            counts = torch.bincount(box_of, minlength=boxes_num)
            slot = torch.arange(key.numel()) - (torch.cumsum(counts, 0) - counts)[box_of]
            keep = slot < s_num
            idx[box_of[keep], slot[keep]] = pt_of[keep]
            counts = counts.clamp(max=s_num)
        # cnt < S: slot k repeats slot k % cnt; cnt >= S leaves arange(S) unchanged
        src_slot = torch.arange(s_num).unsqueeze(0) % counts.clamp(min=1).unsqueeze(1)
        idx = idx.gather(1, src_slot)
        nonempty = counts > 0
        table = torch.cat([points[b].to(pooled.dtype), point_features[b]], dim=1)
        pooled[b][nonempty] = table[idx[nonempty]]
        empty[b] = (~nonempty).to(torch.int32)
    return pooled, empty
