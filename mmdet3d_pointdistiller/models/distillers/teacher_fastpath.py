"""Inference fast path for the frozen teacher's pillar encoder (``PillarFeatureNet``).

Notation
    M pillars, T points per pillar (padded; 32 in the KITTI configs), D decorated point
    features (10 for PointPillars), C output channels (64 for the teacher).

Why
    A PointPillars teacher tapped at its ``voxel_encoder`` runs only the pillar encoder per KD
    iteration, and that encoder is memory-bound: mmdet3d's ``PFNLayer`` writes the
    (M, T, C) activations six times (linear, permute + copy, BatchNorm, permute + copy,
    ReLU, max). On the 2-core CPU the teacher's encoder was a quarter of a 16x KD iteration
    (``tools/profile_sim_iteration.py``).

The maths
    For a frozen layer with BatchNorm in eval mode (running statistics ``mu``, ``var``; affine
    ``gamma``, ``beta``; ``eps``) and no bias in the linear map ``W`` (C x D):

        BN(x W^T) = x W'^T + b',   W' = diag(s) W,   b' = beta - s * mu,
        s = gamma / sqrt(var + eps)

    and because ReLU is monotone, ``max_t relu(y_t) = relu(max_t y_t)`` exactly. So the
    layer is one ``addmm`` (M*T x D by D x C), a max over T and a ReLU on (M, C): one write of
    (M, T, C) instead of six. Folding changes the rounding of the BatchNorm (not the
    function); ``tests/test_teacher_fastpath.py`` bounds the difference.

    The first layer of a ``PillarFeatureNet`` sees the decorated points with the padded rows
    zeroed (``features *= mask``; rows ``t >= n_m`` of pillar m, n_m its point count). A zero
    row maps to ``b'``, so with N = sum_m n_m real points

        max_t y_mt = b' + max(max_{t < n_m} x_mt W'^T,  0 if n_m < T)

    (the zero term only where the pillar has padding). That is a (N x D) by (D x C) product
    on the real points and a segment max (``torch.segment_reduce``) over the pillars' runs
    of rows: on the sim data (8-9 points per pillar of T = 32) about a quarter of the rows
    and none of the (M, T, C) buffer. A later layer's padded rows are not zero (the first
    layer maps them to its bias), so only the first layer takes this path
    (``zero_padded=True``); a later last layer stays dense.

When it applies
    Only to a ``PFNLayer`` that is the last layer (``last_vfe``), uses ``mode='max'`` and
    ``BatchNorm1d``, called without ``aligned_distance``; and only while the layer is in eval
    mode. In train mode (e.g. ``teacher_norm_eval=False``, the released code's teacher BN) the
    original layer runs, so nothing changes for those settings.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d.models.voxel_encoders.utils import PFNLayer

__all__ = ['FoldedPFNLayer', 'fold_teacher_pfn', 'foldable']


class FoldedPFNLayer(nn.Module):
    """A frozen last ``PFNLayer`` (max mode, BatchNorm1d) evaluated with BN folded into the
    linear map.

    The layer's ``linear`` and ``norm`` become this module's children under the same names, so
    ``state_dict`` keys and checkpoints are unchanged. The folded weights are recomputed from
    them at every call (O(C * D), negligible), so they can never be stale. In train mode the
    original ``PFNLayer.forward`` runs on the same submodules.

    Args:
        layer (nn.Module): mmdet3d's ``PFNLayer`` (``last_vfe``, ``mode='max'``,
            ``BatchNorm1d``, bias-free ``linear``).
        zero_padded (bool): the layer's inputs have the padded rows ``t >= num_voxels[m]``
            zeroed (the first layer of a ``PillarFeatureNet``); then only the real points
            are multiplied (module docstring). Default False: the dense fold.
    """

    def __init__(self, layer: nn.Module, zero_padded: bool = False) -> None:
        super().__init__()
        if not foldable(layer):
            raise ValueError('FoldedPFNLayer needs a last PFNLayer with mode="max", '
                             'BatchNorm1d and a bias-free linear map')
        self.norm = layer.norm  # PFNLayer's registration order, so state_dict order matches
        self.linear = layer.linear
        # the attributes code outside reads from a PFNLayer (the distiller's width check of
        # a tapped PillarFeatureNet reads the last layer's units and last_vfe)
        self.units, self.last_vfe, self.mode = layer.units, layer.last_vfe, layer.mode
        self.zero_padded = zero_padded
        object.__setattr__(self, '_original', layer)  # not a child: no duplicate keys
        self.train(layer.training)

    def folded(self) -> tuple:
        """``(W' (C, D), b' (C,))`` from the current weights and running statistics."""
        norm = self.norm
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)  # (C,)
        return (self.linear.weight * scale[:, None],
                norm.bias - scale * norm.running_mean)

    def forward(self, inputs: Tensor, num_voxels: Optional[Tensor] = None,
                aligned_distance: Optional[Tensor] = None) -> Tensor:
        """Args: inputs (M, T, D) decorated point features. Returns: (M, 1, C)."""
        if self.training or aligned_distance is not None:
            return self._original(inputs, num_voxels, aligned_distance)
        weight, bias = self.folded()
        m, t, d = inputs.shape
        if self.zero_padded and num_voxels is not None:
            return self._real_points_max(inputs, num_voxels, weight, bias)
        y = torch.addmm(bias, inputs.reshape(m * t, d), weight.t())  # (M*T, C)
        return F.relu(y.view(m, t, -1).amax(dim=1, keepdim=True))  # (M, 1, C)

    @staticmethod
    def _real_points_max(inputs: Tensor, num_voxels: Tensor, weight: Tensor,
                         bias: Tensor) -> Tensor:
        """The layer on zero-padded inputs (M, T, D) from the real rows only: (M, 1, C)."""
        m, t, _ = inputs.shape
        counts = num_voxels.to(torch.long)
        if counts.shape != (m,) or bool((counts < 1).any()) or bool((counts > t).any()):
            raise ValueError(f'FoldedPFNLayer: num_voxels must hold one count in [1, {t}] per '
                             f'pillar, got shape {tuple(counts.shape)} for {m} pillars')
        real = torch.arange(t, device=inputs.device)[None, :] < counts[:, None]  # (M, T)
        y = inputs[real] @ weight.t()  # (N, C), rows pillar by pillar
        peak = torch.segment_reduce(y, 'max', lengths=counts, axis=0)  # (M, C)
        peak = torch.where((counts < t)[:, None], peak.clamp(min=0), peak)  # padded rows: 0
        return F.relu(peak + bias).unsqueeze(1)  # (M, 1, C)


def foldable(layer: nn.Module) -> bool:
    """Whether ``layer`` is a ``PFNLayer`` that :class:`FoldedPFNLayer` computes exactly."""
    return (isinstance(layer, PFNLayer)
            and getattr(layer, 'last_vfe', False) and getattr(layer, 'mode', None) == 'max'
            and isinstance(getattr(layer, 'norm', None), nn.BatchNorm1d)
            and isinstance(getattr(layer, 'linear', None), nn.Linear)
            and layer.linear.bias is None)


def fold_teacher_pfn(teacher: nn.Module) -> int:
    """Replace every foldable ``PFNLayer`` of ``teacher.voxel_encoder`` (``pts_voxel_encoder``)
    in place.

    ``state_dict`` keys are unchanged, so it may be called before or after loading weights.

    Returns:
        int: the number of layers folded (0 when the teacher has no pillar encoder or its
        layers do not qualify; see the module docstring).
    """
    encoder = getattr(teacher, 'voxel_encoder', None)
    if encoder is None:  # multi-modality detectors (CenterPoint): the point branch's encoder
        encoder = getattr(teacher, 'pts_voxel_encoder', None)
    layers = getattr(encoder, 'pfn_layers', None)
    if not isinstance(layers, nn.ModuleList):
        return 0
    folded = 0
    for i, layer in enumerate(layers):
        if isinstance(layer, FoldedPFNLayer):
            continue
        if foldable(layer):  # the first layer's inputs are the zero-padded decorated points
            layers[i] = FoldedPFNLayer(layer, zero_padded=i == 0)
            folded += 1
    return folded
