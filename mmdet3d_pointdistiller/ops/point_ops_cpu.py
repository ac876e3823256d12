"""CPU implementations of mmcv's CUDA-only point-cloud ops (the kernels only).

Plain functions on CPU tensors, with the semantics of mmcv 2.1.0's CUDA kernels
(``mmcv/ops/csrc/common/cuda/*_cuda_kernel.cuh``). They are used by
:mod:`mmdet3d_pointdistiller.compat.point_ops_cpu`, which dispatches mmcv's autograd
``Function`` classes and plain functions to them for CPU tensors when CUDA is unavailable;
nothing here changes mmcv or mmdet3d on import.

Semantics
    int32 indices; FPS starts at index 0 and breaks distance ties the way the CUDA block
    reduction does (thread ``k % block_size`` with bit-reversed priority, then the lowest
    ``k`` within a thread); ``ball_query`` takes the first ``sample_num`` points in index
    order with ``d2 == 0 or min_r2 <= d2 < max_r2``, pads with the first neighbour found
    and returns all zeros for an empty ball; ``three_nn`` keeps the first of equal
    distances and reports index 0 / distance ``sqrt(1e40)`` (inf in float32) for missing
    neighbours; ``RoIPointPool3d`` takes the first ``num_sampled_points`` points of a box in
    index order, repeats them cyclically, and flags empty boxes with zero features.
    Gradients exist exactly where mmcv has them (features of ``gather_points``,
    ``grouping_operation``, ``three_interpolate``; none for weights or indices).

    Large inputs are never compared all-against-all: ball query, points-in-boxes and
    RoI pooling test only candidate pairs from a BEV grid within a conservative reach
    (radius, or box half-diagonal, plus a margin), ``three_nn`` bounds each x-sorted group's
    third-neighbour distance first, and ``nms_rotated_cpu`` skips pairs whose IoU upper bound
    (areas, axis-aligned overlap) is below the threshold. Every candidate gets the kernel's
    exact test, so results equal the all-pairs evaluation (tests/test_compat_point_ops.py).

    Distances are computed as the kernels write them, each multiply and add rounded to the
    input dtype. A CUDA build may contract them into fused multiply-adds, which changes a
    squared distance by at most an ulp and so can flip a decision only for a point within
    rounding error of a radius, a box face or an FPS tie.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, List, Tuple

import numpy as np
import torch
from torch import Tensor

__all__ = [
    'furthest_point_sample_cpu', 'furthest_point_sample_with_dist_cpu', 'gather_points_cpu',
    'gather_points_backward_cpu', 'ball_query_cpu', 'grouping_operation_cpu',
    'grouping_operation_backward_cpu', 'three_nn_cpu', 'three_interpolate_cpu',
    'three_interpolate_backward_cpu', 'points_in_boxes_flags_cpu', 'points_in_boxes_part_cpu',
    'points_in_boxes_all_cpu', 'roipoint_pool3d_cpu', 'nms_rotated_cpu'
]

# Number of elements of one (rows x points) work tile; bounds the memory of the pairwise ops.
_TILE = 1 << 22


def _is_cpu(t: Tensor) -> bool:
    return t.device.type == 'cpu'


def _row_chunks(rows: int, cols: int) -> List[Tuple[int, int]]:
    """Split ``rows`` into ranges whose (range x cols) tile holds at most ``_TILE`` elements."""
    step = max(1, _TILE // max(cols, 1))
    return [(s, min(s + step, rows)) for s in range(0, rows, step)]


# ----------------------------------------------------------------------- furthest point sampling
def _fps_block_size(n: int) -> int:
    """``opt_n_threads`` of mmcv's FPS launcher: largest power of two <= n, capped at 1024."""
    pow_2 = int(math.log(float(n)) / math.log(2.0))
    return max(min(1 << pow_2, 1024), 1)


def _fps_priority_order(n: int) -> Tensor:
    """Permutation of ``range(n)`` in the order the CUDA FPS kernel prefers among equal maxima.

    Thread ``t = k % block`` scans ``k = t, t + block, ...`` keeping the first strict
    maximum; the shared-memory tree then merges slot ``t`` with ``t + width/2`` keeping the
    lower slot on ties, so among threads the one with the smallest bit-reversed ``t`` wins.
    ``argmax`` over points arranged in this order (first maximum) returns the CUDA winner.

    Returns:
        Tensor: (n, ) int64, ``order[p]`` = point index at priority position ``p``.
    """
    block = _fps_block_size(n)
    bits = block.bit_length() - 1
    k = torch.arange(n, dtype=torch.int64)
    t = k % block
    rev = torch.zeros_like(t)
    for b in range(bits):
        rev |= ((t >> b) & 1) << (bits - 1 - b)
    key = rev * ((n + block - 1) // block) + k // block
    return torch.argsort(key)


def _fps_loop(num_samples: int, batch: int, n: int, dist_to: Callable[[Tensor], Tensor],
              dtype: torch.dtype, order: Tensor) -> Tensor:
    """Shared FPS iteration over points kept in CUDA priority order.

    Args:
        dist_to (callable): maps positions ``old`` (B, ) of the last selected points (in
            priority order) to their (B, n) distances to all points (priority order).

    Returns:
        Tensor: (B, num_samples) int32 point indices.
    """
    out_pos = torch.empty((batch, num_samples), dtype=torch.int64)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(n, dtype=torch.int64)
    old = inverse[0].repeat(batch)  # the kernel always starts at point 0
    out_pos[:, 0] = old
    temp = torch.full((batch, n), 1e10, dtype=dtype)
    for j in range(1, num_samples):
        torch.minimum(temp, dist_to(old), out=temp)
        old = temp.argmax(dim=1)  # first maximum in priority order = the CUDA winner
        out_pos[:, j] = old
    return order[out_pos].to(torch.int32)


def furthest_point_sample_cpu(points_xyz: Tensor, num_points: int) -> Tensor:
    """D-FPS of mmcv's ``furthest_point_sample`` for CPU tensors.

    Args:
        points_xyz (Tensor): (B, N, 3) point coordinates.
        num_points (int): number of samples M (may exceed N: points then repeat).

    Returns:
        Tensor: (B, M) int32 indices; column 0 is always 0.
    """
    batch, n = points_xyz.shape[:2]
    if num_points < 0:
        raise ValueError(f'furthest_point_sample: num_points must be >= 0, got {num_points}')
    if num_points == 0 or batch == 0:
        return torch.zeros((batch, num_points), dtype=torch.int32)
    if n == 0:
        raise ValueError('furthest_point_sample: the point set is empty (N == 0)')
    order = _fps_priority_order(n)
    pts = points_xyz[:, order, :3]
    x, y, z = (pts[..., i].contiguous() for i in range(3))
    rows = torch.arange(batch)
    buf = [torch.empty_like(x) for _ in range(3)]

    def dist_to(old: Tensor) -> Tensor:
        # (x2 - x1)^2 + (y2 - y1)^2 + (z2 - z1)^2, summed left to right as in the kernel
        dx = torch.sub(x, x[rows, old].unsqueeze(1), out=buf[0])
        dy = torch.sub(y, y[rows, old].unsqueeze(1), out=buf[1])
        dz = torch.sub(z, z[rows, old].unsqueeze(1), out=buf[2])
        dx.mul_(dx)
        dx.add_(dy.mul_(dy))
        return dx.add_(dz.mul_(dz))

    return _fps_loop(num_points, batch, n, dist_to, points_xyz.dtype, order)


def furthest_point_sample_with_dist_cpu(points_dist: Tensor, num_points: int) -> Tensor:
    """FPS on a precomputed distance matrix (mmcv's ``furthest_point_sample_with_dist``).

    Args:
        points_dist (Tensor): (B, N, N) pairwise distances.
        num_points (int): number of samples M.

    Returns:
        Tensor: (B, M) int32 indices; column 0 is always 0.
    """
    batch, n = points_dist.shape[:2]
    if num_points < 0:
        raise ValueError(
            f'furthest_point_sample_with_dist: num_points must be >= 0, got {num_points}')
    if num_points == 0 or batch == 0:
        return torch.zeros((batch, num_points), dtype=torch.int32)
    if n == 0:
        raise ValueError('furthest_point_sample_with_dist: the point set is empty (N == 0)')
    order = _fps_priority_order(n)
    dist = points_dist[:, order][:, :, order]
    rows = torch.arange(batch)
    return _fps_loop(num_points, batch, n, lambda old: dist[rows, old], points_dist.dtype, order)


# ------------------------------------------------------------------------------ gather / group
def gather_points_cpu(features: Tensor, indices: Tensor) -> Tensor:
    """``out[b, c, m] = features[b, c, indices[b, m]]``.

    Args:
        features (Tensor): (B, C, N).
        indices (Tensor): (B, M) integer indices into N.

    Returns:
        Tensor: (B, C, M).
    """
    batch, channels = features.shape[:2]
    idx = indices.long().unsqueeze(1).expand(batch, channels, indices.shape[1])
    return features.gather(2, idx)


def gather_points_backward_cpu(grad_out: Tensor, indices: Tensor, n: int) -> Tensor:
    """Gradient of :func:`gather_points_cpu` w.r.t. features: (B, C, M) -> (B, C, N)."""
    batch, channels, m = grad_out.shape
    idx = indices.long().unsqueeze(1).expand(batch, channels, m)
    return grad_out.new_zeros((batch, channels, n)).scatter_add_(2, idx, grad_out)


def grouping_operation_cpu(features: Tensor, indices: Tensor) -> Tensor:
    """``out[b, c, m, s] = features[b, c, indices[b, m, s]]``.

    Args:
        features (Tensor): (B, C, N).
        indices (Tensor): (B, M, S) integer indices into N.

    Returns:
        Tensor: (B, C, M, S).
    """
    batch, m, s = indices.shape
    channels = features.shape[1]
    idx = indices.long().reshape(batch, 1, m * s).expand(batch, channels, m * s)
    return features.gather(2, idx).view(batch, channels, m, s)


def grouping_operation_backward_cpu(grad_out: Tensor, indices: Tensor, n: int) -> Tensor:
    """Gradient of :func:`grouping_operation_cpu`: (B, C, M, S) -> (B, C, N)."""
    batch, channels, m, s = grad_out.shape
    idx = indices.long().reshape(batch, 1, m * s).expand(batch, channels, m * s)
    return grad_out.new_zeros((batch, channels, n)).scatter_add_(
        2, idx, grad_out.reshape(batch, channels, m * s))


# ---------------------------------------------------------------------------------- ball query
def _sq_dist(centers: Tensor, points: Tensor, pairwise: bool = False) -> Tensor:
    """``(c - p)^2`` summed over x, y, z left to right, each step rounded (no FMA).

    Args:
        centers (Tensor): (..., R, 3), or (K, 3) with ``pairwise``.
        points (Tensor): (..., N, 3), or (K, 3) with ``pairwise``.
        pairwise (bool): distances of matching rows instead of all pairs.

    Returns:
        Tensor: (..., R, N), or (K, ) with ``pairwise``.
    """
    d = None
    for i in range(3):
        if pairwise:
            di = centers[:, i] - points[:, i]
        else:
            di = centers[..., :, i:i + 1] - points[..., None, :, i]
        di = di * di
        d = di if d is None else d.add_(di)
    return d


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


def _finite_sorted(values: Tensor) -> Tuple[Tensor, Tensor]:
    """Indices of the finite entries sorted by value, and the sorted values (float64)."""
    v = values.double()
    valid = torch.isfinite(v).nonzero(as_tuple=True)[0]
    sorted_v, order = torch.sort(v[valid])
    return valid[order], sorted_v


def ball_query_cpu(min_radius: float, max_radius: float, sample_num: int, xyz: Tensor,
                   center_xyz: Tensor) -> Tensor:
    """Batched ball query of mmcv's ``ball_query`` for CPU tensors.

    A point k is in the ball of centre m when ``d2 == 0 or min_r2 <= d2 < max_r2`` with the
    squared radii computed in float32 as in the kernel. The first ``sample_num`` such points
    in index order are returned; unused slots repeat the first one; an empty ball is all 0.

    Small point sets are processed for many batch items at once. For large ones only the
    points within the radius in x and y (a conservative window: ``d2 >= dx^2, dy^2``) are
    tested (:func:`_grid_candidates`), so the result equals the all-pairs test.

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
        step = max(1, _TILE // (m * n))
        for s in range(0, batch, step):
            e = min(s + step, batch)
            mask = in_ball(_sq_dist(center_xyz[s:e], xyz[s:e])).view(-1, n)
            pos, _ = _first_k(mask, sample_num)  # all-False rows give 0 as required
            out[s:e] = pos.view(e - s, m, sample_num).to(torch.int32)
        return out
    reach = abs(float(max_radius)) * (1 + 1e-3) + 1e-6
    for b in range(batch):
        pts, ctr = xyz[b], center_xyz[b]
        hits = []
        # centres or points with non-finite x, y have NaN/inf d2: never in a ball
        for c, p in _grid_candidates(pts[:, :2].double(), ctr[:, :2].double(),
                                     torch.full((m, ), reach, dtype=torch.float64)):
            inside = in_ball(_sq_dist(ctr[c], pts[p], pairwise=True))
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


# --------------------------------------------------------------------------- three_nn / interp
def _three_nn_rows(d: Tensor, big: Tensor) -> Tuple[Tensor, Tensor]:
    """The kernel's top-3 scan on a (R, K) distance tile: values and column positions."""
    d = torch.where(d < big, d, big)  # NaN or >= 1e40 is never accepted, like the kernel
    vals, args = [], []
    for _ in range(3):
        val, arg = d.min(dim=1)  # first minimum = lowest column among ties
        vals.append(val)
        args.append(arg)
        d.scatter_(1, arg.unsqueeze(1), big.item())
    return torch.stack(vals, 1), torch.stack(args, 1)


def three_nn_cpu(target: Tensor, source: Tensor) -> Tuple[Tensor, Tensor]:
    """Three nearest ``source`` points of each ``target`` point (squared distances).

    Equal distances keep the lower source index first (strict ``<`` in the kernel). With
    fewer than three source points the missing neighbours get index 0 and squared distance
    ``1e40`` in the kernel's double accumulator, i.e. ``inf`` for float32.

    Targets are visited in x-sorted groups: an upper bound on each group's third-neighbour
    distance, taken from nearby sources, limits the exact search to the sources within that
    bound in x (all others are strictly farther), searched in index order.

    Args:
        target (Tensor): (B, N, 3).
        source (Tensor): (B, M, 3).

    Returns:
        tuple[Tensor, Tensor]: squared distances (B, N, 3) in ``target.dtype`` and int32
        indices (B, N, 3).
    """
    batch, n = target.shape[:2]
    m = source.shape[1]
    big = torch.tensor(1e40, dtype=torch.float64).to(target.dtype)
    dist2 = torch.full((batch, n, 3), big.item(), dtype=target.dtype)
    idx = torch.zeros((batch, n, 3), dtype=torch.int32)
    if m == 0 or n == 0:
        return dist2, idx
    group, window = 256, 32
    for b in range(batch):
        tgt, src = target[b], source[b]
        if m <= 512:
            for s, e in _row_chunks(n, m):
                val, arg = _three_nn_rows(_sq_dist(tgt[s:e], src), big)
                dist2[b, s:e], idx[b, s:e] = val, arg.to(torch.int32)
            continue
        s_order, s_x = _finite_sorted(src[:, 0])  # other sources are never accepted
        t_order, t_x = _finite_sorted(tgt[:, 0])  # other targets keep (1e40, 0)
        for s in range(0, t_order.numel(), group):
            e = min(s + group, t_order.numel())
            rows = t_order[s:e]
            lo = int(torch.searchsorted(s_x, t_x[s]))
            hi = int(torch.searchsorted(s_x, t_x[e - 1], right=True))
            near = s_order[max(0, lo - window):hi + window]
            bound = math.inf
            if near.numel() >= 3:
                d_near = _sq_dist(tgt[rows], src[near]).double()
                third = d_near.topk(3, dim=1, largest=False).values[:, 2].max().item()
                bound = math.sqrt(third) * (1 + 1e-3) + 1e-6  # >= every third-NN distance
            lo = int(torch.searchsorted(s_x, t_x[s] - bound))
            hi = int(torch.searchsorted(s_x, t_x[e - 1] + bound, right=True))
            cols = s_order[lo:hi].sort().values  # candidates in index order
            val, arg = _three_nn_rows(_sq_dist(tgt[rows], src[cols]), big)
            found = val < big
            dist2[b, rows] = val
            idx[b, rows] = torch.where(found, cols[arg], 0).to(torch.int32)
    return dist2, idx


def three_interpolate_cpu(features: Tensor, indices: Tensor, weight: Tensor) -> Tensor:
    """``out[b, c, n] = sum_j weight[b, n, j] * features[b, c, indices[b, n, j]]`` (j = 0, 1, 2).

    Args:
        features (Tensor): (B, C, M).
        indices (Tensor): (B, N, 3) integer indices into M.
        weight (Tensor): (B, N, 3).

    Returns:
        Tensor: (B, C, N).
    """
    batch, channels = features.shape[:2]
    n = indices.shape[1]
    out = None
    for j in range(3):
        idx = indices[:, :, j].long().unsqueeze(1).expand(batch, channels, n)
        term = weight[:, :, j].unsqueeze(1) * features.gather(2, idx)
        out = term if out is None else out.add_(term)
    return out


def three_interpolate_backward_cpu(grad_out: Tensor, indices: Tensor, weight: Tensor,
                                   m: int) -> Tensor:
    """Gradient of :func:`three_interpolate_cpu` w.r.t. features: (B, C, N) -> (B, C, M)."""
    batch, channels, n = grad_out.shape
    grad = grad_out.new_zeros((batch, channels, m))
    for j in range(3):
        idx = indices[:, :, j].long().unsqueeze(1).expand(batch, channels, n)
        grad.scatter_add_(2, idx, grad_out * weight[:, :, j].unsqueeze(1))
    return grad


# ----------------------------------------------------------------------------- points in boxes
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


def _grid_candidates(pxy: Tensor, cxy: Tensor, reach: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
    """Candidate (centre, point) pairs with ``|px - cx| <= reach`` and ``|py - cy| <= reach``.

    Points are bucketed into a BEV grid (cell = median reach) and sorted by (column, row), so
    the points of one grid column within a centre's row range are one contiguous run. Every
    pair within reach in x and y is produced (a superset of the true neighbours); callers run
    the kernel's exact test on them. Points and centres with non-finite x or y, and centres
    with NaN reach, are left out (callers state why that is exact for their op).

    Args:
        pxy (Tensor): (N, 2) float64 point x, y.
        cxy (Tensor): (M, 2) float64 centre x, y.
        reach (Tensor): (M, ) float64 half-width of each centre's square window.

    Yields:
        tuple[Tensor, Tensor]: int64 centre and point indices, at most ``_TILE`` pairs a time.
    """
    pts_ok = torch.isfinite(pxy).all(dim=1).nonzero(as_tuple=True)[0]
    ctr_ok = (torch.isfinite(cxy).all(dim=1) & ~torch.isnan(reach)).nonzero(as_tuple=True)[0]
    if pts_ok.numel() == 0 or ctr_ok.numel() == 0:
        return
    px, py = pxy[pts_ok, 0], pxy[pts_ok, 1]
    x0, y0 = px.min(), py.min()
    extent = float(torch.maximum(px.max() - x0, py.max() - y0))
    r = reach[ctr_ok]
    finite_r = r[torch.isfinite(r)]
    cell = float(finite_r.median()) if finite_r.numel() else extent
    cell = max(cell, extent / 1024, 1e-6)
    p_col = torch.floor((px - x0) / cell).long()
    p_row = torch.floor((py - y0) / cell).long()
    n_col, n_row = int(p_col.max()) + 1, int(p_row.max()) + 1
    key, order = torch.sort(p_col * n_row + p_row)
    pts_sorted = pts_ok[order]

    def cell_range(c: Tensor, n_cells: int, origin: Tensor) -> Tuple[Tensor, Tensor]:
        lo = torch.floor((c - r - origin) / cell).clamp(0, n_cells - 1).long()
        hi = torch.floor((c + r - origin) / cell).clamp(0, n_cells - 1).long()
        return lo, hi

    col_lo, col_hi = cell_range(cxy[ctr_ok, 0], n_col, x0)
    row_lo, row_hi = cell_range(cxy[ctr_ok, 1], n_row, y0)
    n_cols = col_hi - col_lo + 1
    seg_ctr = torch.repeat_interleave(torch.arange(ctr_ok.numel()), n_cols)
    seg_col = col_lo[seg_ctr] + torch.arange(seg_ctr.numel()) - \
        torch.repeat_interleave(torch.cumsum(n_cols, 0) - n_cols, n_cols)
    seg_lo = torch.searchsorted(key, seg_col * n_row + row_lo[seg_ctr])
    seg_hi = torch.searchsorted(key, seg_col * n_row + row_hi[seg_ctr], right=True)
    seg_len = (seg_hi - seg_lo).clamp(min=0)
    ends = torch.cumsum(seg_len, 0)
    start = 0
    while start < seg_len.numel():
        # segments whose pairs fit one tile (at least one segment)
        base = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(torch.searchsorted(ends, base + _TILE, right=True)))
        lens = seg_len[start:stop]
        rep = torch.repeat_interleave(torch.arange(start, stop), lens)
        offs = torch.arange(rep.numel()) - (torch.cumsum(lens, 0) - lens).repeat_interleave(lens)
        yield ctr_ok[seg_ctr[rep]], pts_sorted[seg_lo[rep] + offs]
        start = stop


def _box_point_pairs(points: Tensor, boxes: Tensor) -> Iterator[Tuple[Tensor, Tensor]]:
    """All (point, box) pairs with the point inside the box, in chunks.

    A point inside a box lies within the box's BEV half-diagonal of its centre in x and y,
    so :func:`_grid_candidates` with that reach (plus a margin far above rounding error)
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
    for bx, pt in _grid_candidates(points[:, :2].double(), b64[:, :2], reach):
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
        for pt, bx in _box_point_pairs(points[b], boxes[b]):
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
        for pt, bx in _box_point_pairs(points[b], boxes[b]):
            out[b, pt, bx] = 1
    return out


# ------------------------------------------------------------------------------ RoIPointPool3d
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
        pairs = list(_box_point_pairs(points[b], boxes[b]))
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


# ------------------------------------------------------------------------------- rotated NMS
def _iou_upper_bound(b64: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Upper bound of the BEV IoU of boxes ``i`` and ``j`` (float64 ``(x, y, w, h, a)``).

    The intersection is at most ``min(area_i, area_j, overlap of the axis-aligned bounding
    rectangles)``; IoU = I / (A_i + A_j - I) grows with I. The bound is inflated so that the
    kernel's float32 polygon arithmetic cannot exceed it.
    """
    x, y, w, h, a = (b64[:, k] for k in range(5))
    c, s = np.abs(np.cos(a)), np.abs(np.sin(a))
    hx = 0.5 * (w * c + h * s)
    hy = 0.5 * (w * s + h * c)
    area = w * h
    ox = np.minimum(x[i] + hx[i], x[j] + hx[j]) - np.maximum(x[i] - hx[i], x[j] - hx[j])
    oy = np.minimum(y[i] + hy[i], y[j] + hy[j]) - np.maximum(y[i] - hy[i], y[j] - hy[j])
    inter = np.minimum(np.minimum(area[i], area[j]), np.clip(ox, 0, None) * np.clip(oy, 0, None))
    inter = inter * (1 + 1e-3) + 1e-6 * (area[i] + area[j]) + 1e-9
    return inter / np.maximum(area[i] + area[j] - inter, 1e-12)


def nms_rotated_cpu(dets: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy rotated NMS with the result of mmcv's CPU kernel, skipping hopeless pairs.

    mmcv's ``nms_rotated_cpu`` computes the polygon IoU of every kept box with every later
    unsuppressed box (O(N^2) polygon clippings; about 95 s for PointRCNN's 9000 proposals on
    2 cores). Here a pair is evaluated, with the same ``single_box_iou_rotated`` routine
    (``box_iou_rotated(aligned=True)``), only when a cheap upper bound of its IoU reaches the
    threshold; pairs below it can never suppress. Boxes are processed in blocks of 128 in
    score order; within a block the greedy pass is the kernel's.

    Args:
        dets (Tensor): (N, 5) float32 finite boxes ``(x, y, w, h, angle)`` with w, h > 0,
            clockwise angle.
        scores (Tensor): (N, ) float32 scores.
        iou_threshold (float): >= 1e-3; a later box is suppressed when IoU >= threshold.

    Returns:
        Tensor: (K, ) int64 indices of the kept boxes, highest score first.
    """
    from mmcv.ops import box_iou_rotated
    order = scores.sort(0, descending=True)[1]  # the kernel's own ordering call
    boxes = dets.detach()[order].contiguous()
    b64 = boxes.double().numpy()
    n = boxes.shape[0]
    thr32 = torch.tensor(iou_threshold, dtype=torch.float32)
    bound_thr = float(thr32) * (1 - 1e-3)
    suppressed = np.zeros(n, dtype=bool)
    keep: List[int] = []
    block = 128
    cols_all = np.arange(n)
    for a in range(0, n, block):
        rows = np.arange(a, min(a + block, n))
        rows = rows[~suppressed[rows]]
        if rows.size == 0:
            continue
        later = cols_all[a + 1:]
        later = later[~suppressed[later]]
        pi = np.repeat(rows, later.size)
        pj = np.tile(later, rows.size)
        pair = pj > pi
        pi, pj = pi[pair], pj[pair]
        cand = _iou_upper_bound(b64, pi, pj) >= bound_thr
        pi, pj = pi[cand], pj[cand]
        if pi.size:
            ious = box_iou_rotated(boxes[torch.from_numpy(pi)], boxes[torch.from_numpy(pj)],
                                   aligned=True, clockwise=True)
            hit = (ious >= thr32).numpy()
            pi, pj = pi[hit], pj[hit]
        starts = np.searchsorted(pi, rows)
        stops = np.searchsorted(pi, rows, side='right')
        for r, s, e in zip(rows.tolist(), starts.tolist(), stops.tolist()):
            if suppressed[r]:
                continue
            keep.append(r)
            suppressed[pj[s:e]] = True
    return order[torch.tensor(keep, dtype=torch.int64)]
