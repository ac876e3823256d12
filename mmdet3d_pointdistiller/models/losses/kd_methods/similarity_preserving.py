"""Similarity-Preserving KD (Tung & Mori, ICCV 2019) for 3-D detector features."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss, check_choice, check_positive_int


@MODELS.register_module()
class SimilarityPreservingLoss(FeatureKDLoss):
    r"""Match the pairwise-similarity (Gram) matrices of teacher and student activations.

    For a set of n activation vectors Q (n, C): ``G = Q Q^T`` (n, n), rows L2-normalised,
    ``L = ||G_S - G_T||_F^2 / n^2``. Teacher and student Gram matrices are (n, n) whatever
    their widths, so no adapter is needed.

    ``mode='spatial'`` (the detector adaptation, default): the n vectors are the positions
    of *one sample* (BEV cells, points or non-empty pillars), so the student learns which
    places of a scene the teacher represents alike; the loss is averaged over the samples.
    Detection batches are small (6 scenes) and their scenes are unrelated, which leaves the
    paper's batch-level Gram matrix with 6 x 6 entries. ``max_positions`` caps n per sample
    by a uniform random subset (the global torch RNG) to bound the O(n^2) memory.

    ``mode='batch'`` is the paper's formulation: the n = B vectors are the whole flattened
    feature maps of the batch's samples (bev / point layouts only).

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'``, ``'point'`` or ``'voxel'`` (spatial mode only).
        mode (str): ``'spatial'`` or ``'batch'``.
        max_positions (int, optional): spatial mode: at most this many positions per
            sample (random subset); None uses all.
        loss_weight (float): multiplier (paper: gamma = 3000).
        init_cfg (dict, optional): unused (no parameters).
    """

    def __init__(self, teacher_channels: int, student_channels: int, feature_layout: str,
                 mode: str = 'spatial', max_positions: Optional[int] = 4096,
                 loss_weight: float = 3000.0, init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.mode = check_choice('mode', mode, ('spatial', 'batch'))
        if mode == 'batch' and feature_layout == 'voxel':
            raise ValueError("mode='batch' needs fixed-size maps (feature_layout 'bev' or "
                             "'point'); voxel rows differ in number per sample")
        self.max_positions = check_positive_int('max_positions', max_positions,
                                                allow_none=True)

    @staticmethod
    def gram(rows: Tensor) -> Tensor:
        """(n, C) -> (n, n) Gram matrix with L2-normalised rows."""
        return F.normalize(rows @ rows.t(), dim=1)

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        if self.mode == 'batch':
            num = teacher.shape[0]
            diff = self.gram(student.flatten(1)) - self.gram(teacher.flatten(1))
            return diff.square().sum() / num**2
        losses = []
        for t_rows, s_rows in zip(self.per_sample_rows(teacher, batch_idx),
                                  self.per_sample_rows(student, batch_idx)):
            num = t_rows.shape[0]
            if num == 0:
                continue
            if self.max_positions is not None and num > self.max_positions:
                keep = torch.randperm(num, device=t_rows.device)[:self.max_positions]
                t_rows, s_rows, num = t_rows[keep], s_rows[keep], self.max_positions
            diff = self.gram(s_rows) - self.gram(t_rows)
            losses.append(diff.square().sum() / num**2)
        if not losses:
            return self.zero_loss(student)
        return torch.stack(losses).mean()
