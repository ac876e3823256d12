"""CPU kernels of mmcv's ``three_nn`` and ``three_interpolate``.

Replace ``three_nn_forward_cuda_kernel`` and ``three_interpolate_forward/backward_cuda_kernel``
(``mmcv/ops/csrc/common/cuda/three_*_cuda_kernel.cuh``, mmcv 2.1.0).

Notation
    B batch items, N targets (B, N, 3), M sources (B, M, 3), C channels; ``three_nn``
    returns squared distances and int32 indices (B, N, 3) (mmcv takes the square root);
    ``three_interpolate`` maps features (B, C, M) with indices and weights (B, N, 3) to
    (B, C, N).

Semantics
    ``three_nn`` keeps the first of equal distances and reports index 0 / distance
    ``sqrt(1e40)`` (inf in float32) for missing neighbours; for large inputs it bounds each
    x-sorted target group's third-neighbour distance first and searches only the sources
    within that bound in x, with the same result as the full scan. ``three_interpolate``
    has gradients w.r.t. features only (none for weights or indices, as in mmcv).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

from ._common import row_chunks, sq_dist

__all__ = ['three_nn_cpu', 'three_interpolate_cpu', 'three_interpolate_backward_cpu']


def _finite_sorted(values: Tensor) -> Tuple[Tensor, Tensor]:
    """Indices of the finite entries sorted by value, and the sorted values (float64)."""
    v = values.double()
    valid = torch.isfinite(v).nonzero(as_tuple=True)[0]
    sorted_v, order = torch.sort(v[valid])
    return valid[order], sorted_v


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
            for s, e in row_chunks(n, m):
                val, arg = _three_nn_rows(sq_dist(tgt[s:e], src), big)
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
                d_near = sq_dist(tgt[rows], src[near]).double()
                third = d_near.topk(3, dim=1, largest=False).values[:, 2].max().item()
                bound = math.sqrt(third) * (1 + 1e-3) + 1e-6  # >= every third-NN distance
            lo = int(torch.searchsorted(s_x, t_x[s] - bound))
            hi = int(torch.searchsorted(s_x, t_x[e - 1] + bound, right=True))
            cols = s_order[lo:hi].sort().values  # candidates in index order
            val, arg = _three_nn_rows(sq_dist(tgt[rows], src[cols]), big)
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
