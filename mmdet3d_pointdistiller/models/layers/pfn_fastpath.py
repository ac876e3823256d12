"""Exact fast paths for mmdet3d's pillar-encoder layer (``PFNLayer`` of ``PillarFeatureNet``):
the frozen teacher's (BN folded, eval) and a trained one's (BN batch statistics, train).

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
    function); ``tests/test_pfn_fastpath.py`` bounds the difference.

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

Training (``RealPointsPFNLayer``)
    A trained first layer in train mode normalises with the batch statistics of all M*T rows,
    the padded ones included (``BatchNorm1d`` over (M, C, T)). Padded rows are zero before the
    bias-free linear map and stay zero after it, so with y = x W^T on the N real rows only

        mean = sum_real(y) / (M T),
        var  = (sum_real((y - mean)^2) + (M T - N) mean^2) / (M T)          (biased),

    the padded rows normalise to the per-channel constant z_pad = gamma (0 - mean) /
    sqrt(var + eps) + beta, and max_t relu(z_mt) = relu(max(max_{t < n_m} z_mt, z_pad if
    n_m < T)). The running statistics are updated as ``F.batch_norm`` does (unbiased variance
    M T / (M T - 1), ``momentum`` or the cumulative average when it is None,
    ``num_batches_tracked``). Autograd through these few (N, C) operations gives the same
    gradients as through the (M, T, C) ones: the padded rows' share reaches mean and var
    through z_pad. On the sim data (8-9 points per pillar of 32) forward and backward take a
    tenth of the dense layer's time.

When it applies
    Only to a ``PFNLayer`` that is the last layer (``last_vfe``), uses ``mode='max'`` and an
    affine ``BatchNorm1d`` with running statistics (mmdet3d's default), called without
    ``aligned_distance``. ``FoldedPFNLayer`` computes only in
    eval mode (in train mode, e.g. ``teacher_norm_eval=False``, the released code's teacher
    BN, the original layer runs); ``RealPointsPFNLayer`` needs the layer to be the first of
    its encoder (zero-padded inputs) and computes in both modes.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d.models.voxel_encoders.utils import PFNLayer

__all__ = ['FoldedPFNLayer', 'RealPointsPFNLayer', 'foldable', 'fold_teacher_pfn',
           'use_real_points_pfn']


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
        counts = _checked_counts(num_voxels, m, t)
        y = _real_rows(inputs, counts) @ weight.t()  # (N, C), rows pillar by pillar
        peak = _segment_max(y, counts)  # (M, C)
        peak = torch.where((counts < t)[:, None], peak.clamp(min=0), peak)  # padded rows: 0
        # the bias in the product's dtype, as addmm casts it under autocast
        return F.relu(peak + bias.to(peak.dtype)).unsqueeze(1)  # (M, 1, C)


def _checked_counts(num_voxels: Tensor, m: int, t: int) -> Tensor:
    """``num_voxels`` as long counts, each in [1, T]; raises naming the layer otherwise."""
    counts = num_voxels.to(torch.long)
    if counts.shape != (m,) or bool((counts < 1).any()) or bool((counts > t).any()):
        raise ValueError(f'PFN fast path: num_voxels must hold one count in [1, {t}] per '
                         f'pillar, got shape {tuple(counts.shape)} for {m} pillars')
    return counts


def _segment_max(values: Tensor, counts: Tensor) -> Tensor:
    """Max of each pillar's run of rows: (N, C) rows, (M,) run lengths -> (M, C).

    With gradients the max is a gather of one row per pillar and channel, as ``torch.max``
    routes the gradient to one element: ``segment_reduce``'s backward gives every tied row
    the whole gradient, and duplicated points (identical rows) do tie.
    """
    if not values.requires_grad:
        return torch.segment_reduce(values, 'max', lengths=counts, axis=0)
    with torch.no_grad():
        peak = torch.segment_reduce(values, 'max', lengths=counts, axis=0)  # (M, C)
        segment = torch.repeat_interleave(torch.arange(len(counts), device=values.device),
                                          counts)  # (N,)
        rows = torch.arange(values.shape[0], device=values.device, dtype=values.dtype)
        # first row of each run that reaches the max, per channel
        first = torch.where(values == peak[segment], rows[:, None],
                            torch.full_like(values, float(values.shape[0])))
        index = torch.segment_reduce(first, 'min', lengths=counts, axis=0).long()  # (M, C)
    return values.gather(0, index)


def _real_rows(inputs: Tensor, counts: Tensor) -> Tensor:
    """The (N, D) real rows of zero-padded (M, T, D) ``inputs``, pillar by pillar."""
    t = inputs.shape[1]
    return inputs[torch.arange(t, device=inputs.device)[None, :] < counts[:, None]]


class RealPointsPFNLayer(FoldedPFNLayer):
    """The first (and last) ``PFNLayer`` of a ``PillarFeatureNet`` computed on its real points
    only, in train mode with the batch statistics of all rows (module docstring, "Training")
    and in eval mode as :class:`FoldedPFNLayer` with ``zero_padded=True``. Same function,
    same gradients, same running-statistics updates as the wrapped layer; ``state_dict`` keys
    unchanged.

    Args:
        layer (nn.Module): the encoder's first ``PFNLayer`` (``last_vfe``, ``mode='max'``,
            ``BatchNorm1d``, bias-free ``linear``), whose inputs are zero-padded.
    """

    def __init__(self, layer: nn.Module) -> None:
        super().__init__(layer, zero_padded=True)

    def forward(self, inputs: Tensor, num_voxels: Optional[Tensor] = None,
                aligned_distance: Optional[Tensor] = None) -> Tensor:
        """Args: inputs (M, T, D) zero-padded decorated points, num_voxels (M,) point counts.
        Returns: (M, 1, C)."""
        if aligned_distance is not None or num_voxels is None:
            return self._original(inputs, num_voxels, aligned_distance)
        if not self.norm.training:  # running statistics: the folded map (grads flow to W)
            weight, bias = self.folded()
            return self._real_points_max(inputs, num_voxels, weight, bias)
        m, t, _ = inputs.shape
        counts = _checked_counts(num_voxels, m, t)
        norm = self.norm
        y_in = _real_rows(inputs, counts) @ self.linear.weight.t()  # (N, C)
        # statistics in float32 (as BatchNorm computes them for low-precision inputs), the
        # output in the linear map's dtype (bf16 / fp16 under autocast, as the dense layer's)
        y = y_in.float()
        rows, pad = m * t, m * t - y.shape[0]
        mean = y.sum(0) / rows  # (C,)
        var = ((y - mean).square().sum(0) + pad * mean.square()) / rows  # biased, (C,)
        self._update_running_stats(mean.detach(), var.detach(), rows)
        scale = torch.rsqrt(var + norm.eps) * norm.weight  # (C,)
        shift = norm.bias
        z = (y - mean) * scale + shift  # (N, C) real rows normalised
        z_pad = shift - mean * scale  # (C,) every padded row
        peak = _segment_max(z, counts)  # (M, C)
        # a padded row wins only where it is larger: on a tie the real row (it comes first, as
        # torch.max's index would) takes the gradient
        use_pad = (counts < t)[:, None] & (z_pad > peak)
        peak = torch.where(use_pad, z_pad.expand_as(peak), peak)
        return F.relu(peak).to(y_in.dtype).unsqueeze(1)  # (M, 1, C)

    def _update_running_stats(self, mean: Tensor, var: Tensor, rows: int) -> None:
        """``F.batch_norm``'s update of the running averages (unbiased variance)."""
        norm = self.norm
        norm.num_batches_tracked.add_(1)
        factor = (1.0 / float(norm.num_batches_tracked) if norm.momentum is None
                  else norm.momentum)
        with torch.no_grad():
            norm.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
            norm.running_var.mul_(1 - factor).add_(var * rows / max(rows - 1, 1),
                                                   alpha=factor)


def foldable(layer: nn.Module) -> bool:
    """Whether ``layer`` is a ``PFNLayer`` that :class:`FoldedPFNLayer` computes exactly."""
    norm = getattr(layer, 'norm', None)
    # the fold reads gamma, beta and the running statistics: an affine BN that tracks them
    return (isinstance(layer, PFNLayer)
            and getattr(layer, 'last_vfe', False) and getattr(layer, 'mode', None) == 'max'
            and isinstance(norm, nn.BatchNorm1d) and norm.affine and norm.track_running_stats
            and isinstance(getattr(layer, 'linear', None), nn.Linear)
            and layer.linear.bias is None)


def _pillar_encoders(model: nn.Module):
    """Every ``PillarFeatureNet``-like module of ``model`` (a ``pfn_layers`` ModuleList)."""
    for module in model.modules():
        if isinstance(getattr(module, 'pfn_layers', None), nn.ModuleList):
            yield module


def use_real_points_pfn(model: nn.Module) -> int:
    """Replace, in place, the first layer of every pillar encoder of ``model`` by
    :class:`RealPointsPFNLayer` where it qualifies (a single-layer max-mode encoder with
    BatchNorm1d: the layer is first and last). Layers already replaced or folded
    (:class:`FoldedPFNLayer`, the frozen teacher's) are left alone.

    Returns:
        int: the number of layers replaced.
    """
    done = 0
    for encoder in _pillar_encoders(model):
        layer = encoder.pfn_layers[0]
        # exactly BatchNorm1d: a synchronised subclass (mmcv's NaiveSyncBatchNorm1d) averages
        # its training statistics across processes, which these per-process sums would not
        if not isinstance(layer, FoldedPFNLayer) and foldable(layer) and \
                type(layer.norm) is nn.BatchNorm1d:
            encoder.pfn_layers[0] = RealPointsPFNLayer(layer)
            done += 1
    return done


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
