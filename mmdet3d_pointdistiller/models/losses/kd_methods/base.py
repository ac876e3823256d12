"""Shared plumbing of the earlier-KD-method losses (Table 3 of the PointDistiller paper).

Every loss here has the call signature the distiller uses for all taps,
``loss(teacher_feat, student_feat, **kwargs)``, holds its own adapters (so they live in the
distiller, never in the student, and are dropped by ``tools/export_student.py``), detaches the
teacher feature, and computes in float32 (float64 if the module was cast with ``.double()``)
with autocast disabled.

Feature layouts (``'voxel'``, ``'bev'``, ``'point'``; ``'head'`` only for
:class:`SESSDConsistencyLoss`), the teacher/student input check, the compute dtype and the
graph-connected zero come from :mod:`..feature_layout`.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from mmcv.cnn import ConvModule
from torch import Tensor

from ..arg_checks import check_choice, check_number, check_positive_int  # noqa: F401
from ..feature_layout import FEATURE_LAYOUTS, FeatureLayoutLoss


class FeatureKDLoss(FeatureLayoutLoss):
    """Base of the feature-map KD losses: argument checks, layouts, dtype, teacher detach.

    Subclasses implement :meth:`_loss` on float tensors of the compute dtype (the teacher
    feature already detached) and list the layouts they support in ``LAYOUTS``.

    Args:
        teacher_channels (int): C_T, channels of the teacher feature.
        student_channels (int): C_S, channels of the student feature.
        feature_layout (str): ``'voxel'``, ``'bev'`` or ``'point'`` (see
            :mod:`..feature_layout`).
        loss_weight (float): multiplier of the returned loss, >= 0.
        init_cfg (dict | list[dict], optional): mmengine initialisation config.
    """

    LAYOUTS: Tuple[str, ...] = FEATURE_LAYOUTS

    def __init__(self, teacher_channels: int, student_channels: int, feature_layout: str,
                 loss_weight: float = 1.0, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.teacher_channels = check_positive_int('teacher_channels', teacher_channels)
        self.student_channels = check_positive_int('student_channels', student_channels)
        if feature_layout not in self.LAYOUTS:
            raise ValueError(f'{type(self).__name__} supports feature_layout in {self.LAYOUTS}, '
                             f'got {feature_layout!r}')
        self.feature_layout = feature_layout
        self.loss_weight = check_number('loss_weight', loss_weight)

    # ----------------------------------------------------------------- forward
    def forward(self, teacher_feat: Tensor, student_feat: Tensor,
                batch_idx: Optional[Tensor] = None, **kwargs) -> Tensor:
        """Compute the loss.

        Args:
            teacher_feat (Tensor): voxel (M, C_T); bev (B, C_T, H, W); point (B, C_T, P).
                Detached inside (no gradient reaches the teacher).
            student_feat (Tensor): the same layout with C_S channels.
            batch_idx (Tensor, optional): (M,) sample index of each row, voxel layout only.
            **kwargs: other per-tap inputs of the distiller (e.g. ``num_points``), unused.

        Returns:
            Tensor: scalar loss, already multiplied by ``loss_weight``.
        """
        self._check_inputs(teacher_feat, student_feat, batch_idx)
        dtype = self.compute_dtype(student_feat)
        with torch.autocast(device_type=student_feat.device.type, enabled=False):
            teacher = teacher_feat.detach().to(dtype)
            student = student_feat.to(dtype)
            if batch_idx is not None:
                batch_idx = batch_idx.long()
            return self._loss(teacher, student, batch_idx) * self.loss_weight

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        raise NotImplementedError

    # ----------------------------------------------------------------- helpers
    def per_sample_rows(self, feat: Tensor, batch_idx: Optional[Tensor]) -> List[Tensor]:
        """One (M_b, C) row matrix per sample, whatever the layout.

        bev (B, C, H, W) -> rows are the H*W cells in row-major order; point (B, C, P) ->
        the P points; voxel (M, C) -> the rows whose ``batch_idx`` is b, in input order
        (samples without rows give (0, C)).
        """
        if self.feature_layout == 'voxel':
            num_samples = int(batch_idx.max()) + 1 if batch_idx.numel() else 0
            return [feat[batch_idx == b] for b in range(num_samples)]
        return list(feat.flatten(2).transpose(1, 2))

    def apply_1x1(self, adapter: ConvModule, feat: Tensor) -> Tensor:
        """Apply a 1x1 ``ConvModule`` along the channel axis of any layout.

        voxel (M, C) is treated as one (1, C, M, 1) map, point (B, C, P) as (B, C, P, 1),
        so a BatchNorm inside the adapter normalises over all rows / points.
        """
        if self.feature_layout == 'bev':
            return adapter(feat)
        if self.feature_layout == 'point':
            return adapter(feat.unsqueeze(-1)).squeeze(-1)
        return adapter(feat.t().unsqueeze(0).unsqueeze(-1))[0, :, :, 0].t()
