"""CPU kernels of mmcv's ``furthest_point_sample`` and ``furthest_point_sample_with_dist``.

Replaces ``furthest_point_sampling(_with_dist)_forward_cuda_kernel``
(``mmcv/ops/csrc/common/cuda/furthest_point_sample_cuda_kernel.cuh``, mmcv 2.1.0).

Notation
    B batch items, N points, M samples; ``points_xyz`` (B, N, 3), ``points_dist``
    (B, N, N); the result is (B, M) int32 point indices.

Semantics
    Sampling starts at index 0 and breaks distance ties the way the CUDA block reduction
    does (thread ``k % block_size`` with bit-reversed priority, then the lowest ``k`` within
    a thread); M may exceed N (points then repeat). No gradient (as in mmcv).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor

__all__ = ['furthest_point_sample_cpu', 'furthest_point_sample_with_dist_cpu']


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
