"""Attention Transfer (Zagoruyko & Komodakis, ICLR 2017) on BEV / point feature maps."""
from __future__ import annotations

from typing import Optional

import torch.nn.functional as F
from torch import Tensor

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss, check_number


@MODELS.register_module()
class AttentionTransferLoss(FeatureKDLoss):
    r"""Activation-based spatial attention transfer.

    Attention map of a feature F (B, C, H, W): ``a(F) = mean_c |F_c|^p`` flattened to
    (B, H*W) and L2-normalised per sample. The loss is the official implementation's
    ``loss_weight * mean_{b, hw} (a(F_S) - a(F_T))^2``; the paper's beta = 1000 with its
    ``beta / 2`` factor gives ``loss_weight = 500``. No adapter: the maps only need the same
    spatial size, which teacher and student (same architecture, fewer channels) share.
    Mean over channels and not sum makes teacher (C_T) and student (C_S) maps comparable
    before the normalisation (which removes any constant factor anyway).

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'`` (B, C, H, W) or ``'point'`` (B, C, P).
        p (float): exponent of the attention map (paper: 2).
        loss_weight (float): multiplier (paper: beta / 2 = 500).
        init_cfg (dict, optional): unused (no parameters).
    """

    LAYOUTS = ('bev', 'point')

    def __init__(self, teacher_channels: int, student_channels: int,
                 feature_layout: str = 'bev', p: float = 2.0, loss_weight: float = 500.0,
                 init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.p = check_number('p', p, 0.0, strict=True)

    def attention(self, feat: Tensor) -> Tensor:
        """(B, C, ...) -> (B, prod(...)) L2-normalised spatial attention."""
        return F.normalize(feat.abs().pow(self.p).mean(dim=1).flatten(1), dim=1)

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        if teacher.numel() == 0:
            return self.zero_loss(student)
        return (self.attention(student) - self.attention(teacher)).square().mean()
