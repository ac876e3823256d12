"""Contrastive Representation Distillation (Tian et al., ICLR 2020), memory-free variant."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmdet3d.registry import MODELS

from .base import FeatureKDLoss, check_choice, check_number, check_positive_int


@MODELS.register_module()
class CRDLoss(FeatureKDLoss):
    r"""Contrastive distillation over sampled positions with in-batch negatives.

    CRD contrasts the student's representation of an input with the teacher's
    representation of the same input (positive) and of other inputs (negatives), through
    trainable embedding heads and a temperature. For a dense 3-D detector the "inputs" are
    positions of the feature map (BEV cells, points or pillars):

    1. per sample, ``num_samples`` positions are drawn uniformly without replacement (the
       global torch RNG; a sample with fewer positions uses all of them);
    2. embedding heads ``e_T: C_T -> D`` and ``e_S: C_S -> D`` (``nn.Linear``, then L2
       normalisation, as CRD's ``Embed``), both trained with the student;
    3. with the n positions of the whole batch, logits ``Z = e_S E_T^T / tau`` (n, n); the
       positive of row i is column i (the same position), the other n - 1 sampled positions
       of the batch (also from other scenes) are the negatives;
    4. ``loss = CE(Z, diag) + CE(Z^T, diag)``, the two directions of CRD's symmetric
       objective (student anchor vs teacher contrast, and the reverse).

    Differences from CRD: InfoNCE with in-batch negatives replaces the NCE estimator with a
    16384-entry memory bank (no state kept across iterations, no dataset indices needed);
    positions replace images.

    Args:
        teacher_channels (int): C_T.
        student_channels (int): C_S.
        feature_layout (str): ``'bev'``, ``'point'`` or ``'voxel'``.
        embed_channels (int): D (CRD: 128).
        temperature (float): tau (CRD: 0.07).
        num_samples (int): positions per sample.
        sampling (str): ``'random'`` (uniform) or ``'teacher_max'`` (the positions with the
            largest teacher channel-max, deterministic).
        loss_weight (float): multiplier (CRD: beta = 0.8).
        init_cfg (dict, optional): mmengine initialisation config.

    Attributes:
        teacher_embed (nn.Linear): (D, C_T). student_embed (nn.Linear): (D, C_S).
        last_index (list[Tensor]): the sampled row indices of each sample (detached).
    """

    def __init__(self, teacher_channels: int, student_channels: int, feature_layout: str,
                 embed_channels: int = 128, temperature: float = 0.07,
                 num_samples: int = 1024, sampling: str = 'random',
                 loss_weight: float = 0.8, init_cfg=None) -> None:
        super().__init__(teacher_channels, student_channels, feature_layout, loss_weight,
                         init_cfg)
        self.embed_channels = check_positive_int('embed_channels', embed_channels)
        self.temperature = check_number('temperature', temperature, 0.0, strict=True)
        self.num_samples = check_positive_int('num_samples', num_samples)
        self.sampling = check_choice('sampling', sampling, ('random', 'teacher_max'))
        self.teacher_embed = nn.Linear(self.teacher_channels, self.embed_channels)
        self.student_embed = nn.Linear(self.student_channels, self.embed_channels)
        self.last_index = []

    def _sample(self, t_rows: Tensor) -> Tensor:
        num = t_rows.shape[0]
        if num <= self.num_samples:
            return torch.arange(num, device=t_rows.device)
        if self.sampling == 'random':
            return torch.randperm(num, device=t_rows.device)[:self.num_samples]
        return t_rows.amax(dim=1).topk(self.num_samples).indices

    def _loss(self, teacher: Tensor, student: Tensor, batch_idx: Optional[Tensor]) -> Tensor:
        t_sel, s_sel, self.last_index = [], [], []
        for t_rows, s_rows in zip(self.per_sample_rows(teacher, batch_idx),
                                  self.per_sample_rows(student, batch_idx)):
            idx = self._sample(t_rows)
            self.last_index.append(idx.detach())
            t_sel.append(t_rows[idx])
            s_sel.append(s_rows[idx])
        num = sum(t.shape[0] for t in t_sel)
        if num < 2:  # no negative
            return self.zero_loss(student)
        emb_t = F.normalize(self.teacher_embed(torch.cat(t_sel)), dim=1)
        emb_s = F.normalize(self.student_embed(torch.cat(s_sel)), dim=1)
        logits = emb_s @ emb_t.t() / self.temperature  # (n, n), row: student anchor
        target = torch.arange(num, device=logits.device)
        return F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)
