"""CPU kernel of mmcv's (batched) ``ball_query``.

Replaces ``ball_query_forward_cuda_kernel``
(``mmcv/ops/csrc/common/cuda/ball_query_cuda_kernel.cuh``, mmcv 2.1.0); the stacked
(``*_batch_cnt``) form is not implemented.

Notation
    B batch items, N points ``xyz`` (B, N, 3), M centres ``center_xyz`` (B, M, 3), S
    samples per centre; the result is (B, M, S) int32 indices into N.

Semantics
    Takes the first S points in index order with ``d2 == 0 or min_r2 <= d2 < max_r2``
    (squared radii in float32 as in the kernel), pads with the first neighbour found and
    returns all zeros for an empty ball. Large point sets test only candidate pairs from a
    BEV grid within the radius plus a margin (:func:`~._common.grid_candidates`), so the
    result equals the all-pairs test.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from ._common import TILE, grid_candidates, sq_dist

__all__ = ['ball_query_cpu']


def _first_k(mask: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Columns of the first ``k`` True entries of each row, padded with the first one.

    Args:
        mask (Tensor): (R, K) bool.
        k (int): slots per row.

    Returns:
        tuple[Tensor, Tensor]: (R, k) int64 column positions (0 for rows without a True
        entry) and the (R, ) bool "row has a True entry".
    """
    rank = mask.to(torch.int32).cumsum(1, dtype=torch.int32)
    hit = rank[:, -1] > 0
    first = mask.to(torch.uint8).argmax(dim=1)  # first True, 0 for an all-False row
    out = first.unsqueeze(1).repeat(1, k)
    rows, cols = (mask & (rank <= k)).nonzero(as_tuple=True)
    out[rows, rank[rows, cols].long() - 1] = cols
    return out, hit


def _rank_in_run(sorted_ids: Tensor) -> Tensor:
    """Position of each entry within its run of equal values in a sorted 1-D tensor."""
    _, counts = torch.unique_consecutive(sorted_ids, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(sorted_ids.numel()) - torch.repeat_interleave(starts, counts)


def ball_query_cpu(min_radius: float, max_radius: float, sample_num: int, xyz: Tensor,
                   center_xyz: Tensor) -> Tensor:
    """Batched ball query of mmcv's ``ball_query`` for CPU tensors.

    A point k is in the ball of centre m when ``d2 == 0 or min_r2 <= d2 < max_r2`` with the
    squared radii computed in float32 as in the kernel. The first ``sample_num`` such points
    in index order are returned; unused slots repeat the first one; an empty ball is all 0.

    Small point sets are processed for many batch items at once. For large ones only the
    points within the radius in x and y (a conservative window: ``d2 >= dx^2, dy^2``) are
    tested (:func:`grid_candidates`), so the result equals the all-pairs test.

    Args:
        min_radius (float): inner radius.
        max_radius (float): outer radius.
        sample_num (int): S, neighbours per centre.
        xyz (Tensor): (B, N, 3) points.
        center_xyz (Tensor): (B, M, 3) ball centres.

    Returns:
        Tensor: (B, M, S) int32 indices into N.
    """
    batch, n = xyz.shape[:2]
    m = center_xyz.shape[1]
    out = torch.zeros((batch, m, sample_num), dtype=torch.int32)
    if sample_num <= 0 or m == 0 or n == 0 or batch == 0:
        return out
    r32 = torch.tensor([max_radius, min_radius], dtype=torch.float32)
    max_r2, min_r2 = (r32 * r32).to(xyz.dtype).tolist()

    def in_ball(d2: Tensor) -> Tensor:
        mask = (d2 >= min_r2) & (d2 < max_r2)
        return mask.logical_or_(d2 == 0)

    if n <= 2048:  # dense, vectorised over batch items
        step = max(1, TILE // (m * n))
        for s in range(0, batch, step):
            e = min(s + step, batch)
            mask = in_ball(sq_dist(center_xyz[s:e], xyz[s:e])).view(-1, n)
            pos, _ = _first_k(mask, sample_num)  # all-False rows give 0 as required
            out[s:e] = pos.view(e - s, m, sample_num).to(torch.int32)
        return out
    reach = abs(float(max_radius)) * (1 + 1e-3) + 1e-6
    for b in range(batch):
        pts, ctr = xyz[b], center_xyz[b]
        hits = []
        # centres or points with non-finite x, y have NaN/inf d2: never in a ball
        for c, p in grid_candidates(pts[:, :2].double(), ctr[:, :2].double(),
                                    torch.full((m, ), reach, dtype=torch.float64)):
            inside = in_ball(sq_dist(ctr[c], pts[p], pairwise=True))
            key = torch.sort(c[inside] * n + p[inside]).values
            hits.append(key[_rank_in_run(key // n) < sample_num])  # bounds the memory
        key = torch.sort(torch.cat(hits)).values if hits else torch.zeros(0, dtype=torch.int64)
        c_of, p_of = key // n, key % n
        counts = torch.bincount(c_of, minlength=m)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(key.numel()) - starts[c_of]
        idx = torch.zeros((m, sample_num), dtype=torch.int64)
        has = counts > 0
        idx[has] = p_of[starts[has]].unsqueeze(1)  # pad with the first neighbour
        keep = rank < sample_num
        idx[c_of[keep], rank[keep]] = p_of[keep]
        out[b] = idx.to(torch.int32)
    return out
