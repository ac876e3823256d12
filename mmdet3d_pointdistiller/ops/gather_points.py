"""CPU kernels of mmcv's ``gather_points`` and (batched) ``grouping_operation``.

Replace ``gather_points_forward/backward_cuda_kernel`` and
``group_points_forward/backward_cuda_kernel`` (``mmcv/ops/csrc/common/cuda/``, mmcv 2.1.0).

Notation
    B batch items, C channels, N source points, M gathered points (or groups), S samples
    per group; features (B, C, N), indices (B, M) or (B, M, S) into N.

Semantics
    A plain gather; the backward scatter-adds the output gradient into the N source
    columns (gradients w.r.t. features only, none for the indices, as in mmcv).
"""
from __future__ import annotations

from torch import Tensor

__all__ = [
    'gather_points_cpu', 'gather_points_backward_cpu', 'grouping_operation_cpu',
    'grouping_operation_backward_cpu'
]


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
