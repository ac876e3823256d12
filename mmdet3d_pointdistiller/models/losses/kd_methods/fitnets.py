"""FitNets hint regression (Romero et al., ICLR 2015), for 3-D detector features."""
from __future__ import annotations

from typing import Optional

from mmcv.cnn import ConvModule
from torch import Tensor

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss


@MODELS.register_module()
class FitNetsLoss(FeatureKDLoss):
    r"""Hint-based training: the student's guided layer regresses the teacher's hint layer.

    ``loss = loss_weight * mean_{b,c,h,w} (F_T - r(F_S))^2``, where the regressor ``r`` is a
    1x1 ``ConvModule`` C_S -> C_T (with bias, no norm, no activation) that lives in this
    module. FitNets writes ``1/2 ||u_h - r(v_g)||^2`` summed per example; the mean over all
    B * C_T * H * W elements keeps the term's scale independent of the map size.

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'`` (B, C, H, W), ``'point'`` (B, C, P) or ``'voxel'``
            (M, C) rows.
        loss_weight (float): multiplier.
        norm_cfg (dict, optional): norm layer of the regressor (default None, a plain conv).
        init_cfg (dict, optional): mmengine initialisation config.

    Attributes:
        regressor (ConvModule): weight (C_T, C_S, 1, 1).
    """

    def __init__(self, teacher_channels: int, student_channels: int, feature_layout: str,
                 loss_weight: float = 1.0, norm_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.regressor = ConvModule(self.student_channels, self.teacher_channels, 1,
                                    norm_cfg=norm_cfg, act_cfg=None)

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        if teacher.numel() == 0:
            return self.zero_loss(student)
        hint = self.apply_1x1(self.regressor, student)
        return (teacher - hint).square().mean()
