"""Attention-guided + non-local feature distillation (Zhang & Ma, ICLR 2021) on BEV maps."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, NonLocal2d
from torch import Tensor

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss, check_choice, check_number, check_positive_int


def spatial_attention(feat: Tensor, temperature: float) -> Tensor:
    """(B, C, H, W) -> (B, 1, H, W) mask ``H W softmax_hw(mean_c |F| / T)`` (mean 1)."""
    b, _, h, w = feat.shape
    score = feat.abs().mean(dim=1).flatten(1) / temperature
    return (h * w * torch.softmax(score, dim=1)).view(b, 1, h, w)


def channel_attention(feat: Tensor, temperature: float) -> Tensor:
    """(B, C, H, W) -> (B, C, 1, 1) mask ``C softmax_c(mean_hw |F| / T)`` (mean 1)."""
    b, c = feat.shape[:2]
    score = feat.abs().mean(dim=(2, 3)) / temperature
    return (c * torch.softmax(score, dim=1)).view(b, c, 1, 1)


@MODELS.register_module()
class AttentionNonLocalKDLoss(FeatureKDLoss):
    r"""Attention-guided distillation + non-local distillation for a BEV feature map.

    With the teacher map F_T (B, C_T, H, W), the adapted student map ``f(F_S)`` (1x1 conv
    C_S -> C_T, in this module), spatial masks ``A^S(F) = HW softmax(mean_c|F| / T)`` and
    channel masks ``A^C(F) = C softmax(mean_hw|F| / T)`` (both mean 1):

    * attention-guided feature loss ``L_feat = mean_{b,c,h,w} A^S A^C (F_T - f(F_S))^2``,
      masks detached, taken from the teacher (``mask_source='teacher'``, the paper's text)
      or the mean of teacher and student masks (``'mean'``, the released code);
    * attention-mask loss ``L_att = mean|A^S(F_T) - A^S(f(F_S))| + mean|A^C(F_T) -
      A^C(f(F_S))|`` (L1, the paper's l; the student's masks are computed on the adapted
      map, since its channel count must be C_T);
    * non-local loss ``L_nl = mean (NL_T(P(F_T)) - g(NL_S(P(F_S))))^2``: mmcv ``NonLocal2d``
      blocks (embedded Gaussian, reduction 2, zero-initialised output conv, as in the
      released code) on teacher and student maps, both trained with the student, the
      student's relation adapted by a 1x1 conv g. ``P`` is average pooling with
      ``nonlocal_pool`` (a KITTI PointPillars neck map has 248 x 216 = 53568 cells, whose
      full affinity matrix would need ~11 GB per sample; pooling by 4 gives 62 x 54);
    * ``loss = loss_weight * (feat_weight L_feat + attn_weight L_att + nonlocal_weight
      L_nl)``. The terms are means (not the released code's sums and square roots), so the
      weights are of order 1 rather than the released 7e-5 / 4e-3.

    The last components are kept (detached) in :attr:`last_components`.

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'`` only.
        temperature (float): T of both masks (paper: 0.5).
        mask_source (str): ``'teacher'`` or ``'mean'``.
        feat_weight, attn_weight, nonlocal_weight (float): term weights.
        nonlocal_pool (int): average-pooling kernel and stride before the non-local blocks.
        nonlocal_reduction (int): channel reduction inside ``NonLocal2d``.
        loss_weight (float): overall multiplier.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    LAYOUTS = ('bev', )

    def __init__(self, teacher_channels: int, student_channels: int,
                 feature_layout: str = 'bev', temperature: float = 0.5,
                 mask_source: str = 'teacher', feat_weight: float = 1.0,
                 attn_weight: float = 1.0, nonlocal_weight: float = 1.0,
                 nonlocal_pool: int = 4, nonlocal_reduction: int = 2,
                 loss_weight: float = 1.0, init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.temperature = check_number('temperature', temperature, 0.0, strict=True)
        self.mask_source = check_choice('mask_source', mask_source, ('teacher', 'mean'))
        self.feat_weight = check_number('feat_weight', feat_weight)
        self.attn_weight = check_number('attn_weight', attn_weight)
        self.nonlocal_weight = check_number('nonlocal_weight', nonlocal_weight)
        self.nonlocal_pool = check_positive_int('nonlocal_pool', nonlocal_pool)
        reduction = check_positive_int('nonlocal_reduction', nonlocal_reduction)
        c_t, c_s = self.teacher_channels, self.student_channels
        self.feat_adapter = ConvModule(c_s, c_t, 1, norm_cfg=None, act_cfg=None)
        self.teacher_non_local = NonLocal2d(c_t, reduction=reduction, mode='embedded_gaussian')
        self.student_non_local = NonLocal2d(c_s, reduction=reduction, mode='embedded_gaussian')
        self.nonlocal_adapter = ConvModule(c_s, c_t, 1, norm_cfg=None, act_cfg=None)
        self.last_components: Dict[str, Tensor] = {}

    def masks(self, feat: Tensor) -> Tuple[Tensor, Tensor]:
        """Spatial (B, 1, H, W) and channel (B, C, 1, 1) attention masks of ``feat``."""
        return (spatial_attention(feat, self.temperature),
                channel_attention(feat, self.temperature))

    def _pool(self, feat: Tensor) -> Tensor:
        if self.nonlocal_pool == 1:
            return feat
        return F.avg_pool2d(feat, self.nonlocal_pool, ceil_mode=True)

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        if teacher.numel() == 0:
            return self.zero_loss(student)
        adapted = self.feat_adapter(student)
        sp_t, ch_t = self.masks(teacher)
        sp_s, ch_s = self.masks(adapted)
        if self.mask_source == 'teacher':
            sp_m, ch_m = sp_t, ch_t
        else:
            sp_m, ch_m = (sp_t + sp_s.detach()) / 2, (ch_t + ch_s.detach()) / 2
        feat = ((teacher - adapted).square() * sp_m * ch_m).mean()
        attn = (sp_t - sp_s).abs().mean() + (ch_t - ch_s).abs().mean()
        rel_t = self.teacher_non_local(self._pool(teacher))
        rel_s = self.nonlocal_adapter(self.student_non_local(self._pool(student)))
        nonlocal_ = (rel_t - rel_s).square().mean()
        self.last_components = dict(feat=feat.detach(), attn=attn.detach(),
                                    nonlocal_=nonlocal_.detach())
        return (self.feat_weight * feat + self.attn_weight * attn
                + self.nonlocal_weight * nonlocal_)
