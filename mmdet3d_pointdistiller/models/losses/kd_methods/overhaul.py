"""A Comprehensive Overhaul of Feature Distillation (Heo et al., ICCV 2019) for 3-D detectors."""
from __future__ import annotations

import math
from typing import Optional

import torch
from mmcv.cnn import ConvModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss, check_choice


def bn_margin(weight: Tensor, bias: Tensor) -> Tensor:
    r"""Per-channel margin ``m = E[x | x < 0]`` of ``x ~ N(bias, weight^2)`` (Heo et al.).

    A BatchNorm output of channel c is modelled as Gaussian with mean beta_c and std
    |gamma_c|; then ``E[x | x < 0] = beta - s phi(beta/s) / Phi(-beta/s)`` with s = |gamma|.
    As in the official code, channels with ``Phi(-beta/s) <= 0.001`` (almost never
    negative) get ``-3 s``.

    Args:
        weight (Tensor): (C,) BN weight gamma.
        bias (Tensor): (C,) BN bias beta.

    Returns:
        Tensor: (C,) float64 margins (all <= 0).
    """
    s = weight.detach().double().abs().clamp_min(1e-12)
    m = bias.detach().double()
    cdf = torch.special.ndtr(-m / s)
    pdf = torch.exp(-(m / s).square() / 2) / math.sqrt(2 * math.pi)
    margin = -s * pdf / cdf.clamp_min(1e-300) + m
    return torch.where(cdf > 1e-3, margin, -3 * s)


@MODELS.register_module()
class OverhaulKDLoss(FeatureKDLoss):
    r"""Pre-ReLU distillation with the teacher's margin-ReLU and the partial L2 distance.

    * **Position**: pre-ReLU features. In mmdet3d's PointPillars the SECOND backbone blocks
      are ``Sequential(Conv, BN, ReLU(inplace=True), ...)``; the tap is the *last BatchNorm*
      of a block (``backbone.blocks.<i>.<index>``) with ``clone_output=True``, so the
      in-place ReLU that follows does not overwrite the recorded pre-ReLU map.
    * **Teacher transform**: margin ReLU ``sigma_m(x) = max(x, m_c)`` with per-channel
      margins ``m_c = E[x_c | x_c < 0]``. ``margin_source='bn'`` computes them once from the
      tapped teacher BatchNorm's gamma/beta (:func:`bn_margin`, the paper's rule; the
      distiller calls :meth:`bind_teacher_module` at build time); ``'features'`` estimates
      them from each batch's teacher features (mean of the negative values per channel, 0
      for a channel without negative values).
    * **Student transform**: connector 1x1 conv + BN, C_S -> C_T (in this module).
    * **Distance**: partial L2, ``(r(F_S) - sigma_m(F_T))^2`` counted only where
      ``r(F_S) > sigma_m(F_T)`` or ``sigma_m(F_T) > 0``.
    * **Normalisation**: ``loss_weight * sum / numel`` (a mean over B * C_T * H * W
      elements). The official code divides the sum by the batch size and 1000 (CIFAR) or
      10000 (ImageNet) and weights the i-th of n stages by 1 / 2^(n-i-1); set
      ``loss_weight`` per tap for the stage weights.

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'``, ``'point'`` or ``'voxel'``.
        margin_source (str): ``'bn'`` or ``'features'``.
        loss_weight (float): multiplier.
        init_cfg (dict, optional): mmengine initialisation config.

    Attributes:
        connector (ConvModule): Conv (C_T, C_S, 1, 1) + BN2d.
        margin (Tensor): buffer (C_T,), set by :meth:`bind_teacher_module` for ``'bn'``.
    """

    def __init__(self, teacher_channels: int, student_channels: int, feature_layout: str,
                 margin_source: str = 'bn', loss_weight: float = 1.0, init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.margin_source = check_choice('margin_source', margin_source, ('bn', 'features'))
        self.connector = ConvModule(self.student_channels, self.teacher_channels, 1,
                                    norm_cfg=dict(type='BN2d'), act_cfg=None)
        self.register_buffer('margin', torch.zeros(self.teacher_channels))
        self.register_buffer('margin_bound', torch.zeros((), dtype=torch.bool))

    def bind_teacher_module(self, module: nn.Module, where: str = 'teacher module') -> None:
        """Take the margins from the tapped teacher BatchNorm (``margin_source='bn'``).

        Args:
            module (nn.Module): the tapped teacher submodule; must be a BatchNorm layer with
                C_T affine channels (its output is the pre-ReLU feature).
            where (str): config location for error messages.
        """
        if self.margin_source != 'bn':
            return
        if not isinstance(module, _BatchNorm) or not module.affine:
            raise ValueError(
                f"{where}: OverhaulKDLoss(margin_source='bn') needs the tapped teacher module to "
                f'be an affine BatchNorm layer (the pre-ReLU output), got '
                f"{type(module).__name__}; tap e.g. 'backbone.blocks.0.10' or use "
                f"margin_source='features'")
        if module.num_features != self.teacher_channels:
            raise ValueError(f'{where}: the BatchNorm has {module.num_features} channels but '
                             f'teacher_channels={self.teacher_channels}')
        self.margin.copy_(bn_margin(module.weight, module.bias).to(self.margin.dtype))
        self.margin_bound.fill_(True)

    def feature_margin(self, teacher: Tensor) -> Tensor:
        """(C_T,) mean of the negative teacher values per channel (0 where none)."""
        rows = teacher.transpose(0, 1).reshape(self.teacher_channels, -1)  # (C, ...)
        neg = rows.clamp_max(0)
        count = (rows < 0).sum(dim=1)
        return neg.sum(dim=1) / count.clamp_min(1)

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        if teacher.numel() == 0:
            return self.zero_loss(student)
        if self.margin_source == 'bn':
            if not bool(self.margin_bound):
                raise RuntimeError("OverhaulKDLoss(margin_source='bn') has no margins: the "
                                   'distiller binds the tapped teacher BatchNorm at build time '
                                   '(bind_teacher_module); use it inside '
                                   "PointDistillerDetector or set margin_source='features'")
            margin = self.margin.to(teacher.dtype)
        else:
            margin = self.feature_margin(teacher)
        shape = [1, -1] + [1] * (teacher.dim() - 2)
        target = torch.maximum(teacher, margin.view(shape))
        source = self.apply_1x1(self.connector, student)
        mask = (source > target) | (target > 0)
        return ((source - target).square() * mask).sum() / target.numel()
