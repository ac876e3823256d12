r"""Head distillation for mmdet3d's ``CenterHead`` (CenterPoint): soft heatmaps + peak boxes.

Notation (one task :math:`\tau` of the head; mmdet3d groups classes into tasks, each with its
own heatmap and regression branches):

* :math:`T^{hm}, S^{hm}` (B, K_tau, H, W): teacher / student heatmap logits of the task's
  K_tau classes; :math:`p_t = \sigma(T^{hm})`, :math:`p_s = \sigma(S^{hm})`, both clamped to
  [1e-4, 1 - 1e-4] as mmdet3d's ``clip_sigmoid`` does for the detection loss;
* :math:`T^{h}, S^{h}` (B, C_h, H, W): the maps of regression head ``h`` (``reg`` 2,
  ``height`` 1, ``dim`` 3, ``rot`` 2, ``vel`` 2 on nuScenes);
* **teacher peaks** :math:`\mathcal{P}_\tau`: the (b, k, y, x) where
  :math:`p_t \ge` ``peak_thr`` and :math:`p_t` equals its ``peak_kernel`` x ``peak_kernel``
  max-pool in the same class channel (CenterPoint's decoding rule), and
  :math:`n_\tau = \max(1, |\mathcal{P}_\tau|)`;
* **peak weight** :math:`w_{b,y,x} = \max_k p_t \, [(b, k, y, x) \in \mathcal{P}_\tau]`
  (0 where no class of the task peaks).

Heatmap term, per task (``heatmap_loss``):

* ``'focal'``: :math:`\sum |p_t - p_s|^\beta \, \mathrm{BCE}(S^{hm}, p_t) / n_\tau`, the
  quality-focal form for soft targets (Li et al., *Generalized Focal Loss*, NeurIPS 2020;
  :math:`\beta` = ``focal_beta``). mmdet's ``GaussianFocalLoss`` is not used: it treats only
  targets equal to 1 as positives, and the teacher's sigmoid never is;
* ``'mse'``: :math:`\sum (p_s - p_t)^2 / n_\tau`.

Both sum over every pixel and class and divide by the number of teacher peaks, as
CenterPoint's own focal loss divides by the number of objects.

Regression term, per task: the peak-weighted mean of the L1 difference of the regression maps
(summed over the channels of the heads in ``reg_heads``)

.. math:: L^{reg}_\tau = \sum_{b,y,x} w_{b,y,x} \sum_{h} \sum_c |S^h_c - T^h_c|_{b,y,x}
          \;/\; \max\big(\sum_{b,y,x} w_{b,y,x},\ \epsilon\big)

which is 0 (still connected to the student's graph) for a batch where the teacher has no
peak: an empty frame, or a task none of whose classes is present.

``loss = loss_weight * sum_tau (heatmap_weight * L^hm_tau + reg_weight * L^reg_tau)``.

Inputs are the raw outputs of ``CenterHead.forward``: a tuple over tasks, each a list over
feature levels (one for CenterPoint) of ``dict(reg=..., height=..., dim=..., rot=...,
[vel=...], heatmap=...)``. The distiller checks at build time (:meth:`bind_teacher_module`,
:meth:`bind_student_module`) that both heads have the same tasks with the same class names in
the same order, and at run time that the teacher's and the student's maps are on the same grid.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmdet3d.registry import MODELS

__all__ = ['CenterHeadDistillLoss', 'teacher_peaks']

HEATMAP = 'heatmap'
HEATMAP_LOSSES = ('focal', 'mse')
_EPS = 1e-4  # mmdet3d clip_sigmoid bounds


def teacher_peaks(prob: Tensor, thr: float, kernel: int) -> Tensor:
    """Boolean (B, K, H, W) mask of the local maxima of ``prob`` that reach ``thr``.

    Args:
        prob (Tensor): (B, K, H, W) teacher class probabilities.
        thr (float): minimum probability of a peak.
        kernel (int): odd max-pool window; 1 makes every pixel its own neighbourhood.
    """
    pooled = F.max_pool2d(prob, kernel, stride=1, padding=kernel // 2)
    return (prob >= thr) & (prob == pooled)


@MODELS.register_module()
class CenterHeadDistillLoss(BaseModule):
    """Soft-heatmap and peak-weighted box imitation between two ``CenterHead`` s.

    See the module docstring for the formulas.

    Args:
        feature_layout (str): must be ``'head'`` (the tap records ``CenterHead.forward``).
        heatmap_loss (str): ``'focal'`` (quality-focal on soft targets) or ``'mse'``.
        heatmap_weight (float): weight of the heatmap term.
        reg_weight (float): weight of the regression term; 0 distils heatmaps only.
        reg_heads (Sequence[str], optional): regression heads to imitate; ``None`` means
            every head of the teacher except ``heatmap`` (e.g. reg, height, dim, rot, vel).
        peak_thr (float): minimum teacher probability of a peak (CenterPoint's
            ``score_threshold`` is 0.1).
        peak_kernel (int): odd max-pool window of the peak test (CenterPoint: 3).
        focal_beta (float): exponent of |p_t - p_s| in the focal form.
        loss_weight (float): overall multiplier.
        init_cfg (dict, optional): unused (no parameters).
    """

    def __init__(self,
                 feature_layout: str = 'head',
                 heatmap_loss: str = 'focal',
                 heatmap_weight: float = 1.0,
                 reg_weight: float = 1.0,
                 reg_heads: Optional[Sequence[str]] = None,
                 peak_thr: float = 0.1,
                 peak_kernel: int = 3,
                 focal_beta: float = 2.0,
                 loss_weight: float = 1.0,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if feature_layout != 'head':
            raise ValueError(f"CenterHeadDistillLoss works on the raw head outputs: "
                             f"feature_layout must be 'head', got {feature_layout!r}")
        if heatmap_loss not in HEATMAP_LOSSES:
            raise ValueError(f'heatmap_loss must be one of {HEATMAP_LOSSES}, got '
                             f'{heatmap_loss!r}')
        if not (isinstance(peak_kernel, int) and peak_kernel >= 1 and peak_kernel % 2 == 1):
            raise ValueError(f'peak_kernel must be an odd positive int, got {peak_kernel!r}')
        if not 0.0 < peak_thr < 1.0:
            raise ValueError(f'peak_thr must be in (0, 1), got {peak_thr!r}')
        for name, value in (('heatmap_weight', heatmap_weight), ('reg_weight', reg_weight),
                            ('loss_weight', loss_weight), ('focal_beta', focal_beta)):
            if value < 0:
                raise ValueError(f'{name} must be >= 0, got {value!r}')
        if reg_heads is not None and (isinstance(reg_heads, str) or HEATMAP in reg_heads):
            raise ValueError(f"reg_heads must be a list of regression head names (not "
                             f"'{HEATMAP}'), got {reg_heads!r}")
        self.feature_layout = feature_layout
        self.heatmap_loss = heatmap_loss
        self.heatmap_weight = float(heatmap_weight)
        self.reg_weight = float(reg_weight)
        self.reg_heads = None if reg_heads is None else tuple(reg_heads)
        self.peak_thr = float(peak_thr)
        self.peak_kernel = peak_kernel
        self.focal_beta = float(focal_beta)
        self.loss_weight = float(loss_weight)
        self._where = 'CenterHeadDistillLoss'
        self._teacher_head = 'teacher head'
        self._teacher_tasks: Optional[List[List[str]]] = None

    # ------------------------------------------------------------------ build-time checks
    @staticmethod
    def _tasks_of(head, where: str) -> List[List[str]]:
        names = getattr(head, 'class_names', None)
        if names is None or not hasattr(head, 'task_heads'):
            raise TypeError(f'{where}: CenterHeadDistillLoss needs a CenterHead (with '
                            f'class_names and task_heads), got {type(head).__name__}')
        return [list(t) for t in names]

    def bind_teacher_module(self, module, where: str) -> None:
        """Remember the teacher head's tasks (class names per task) for the student check."""
        self._where = where.split(' ')[0] + '.loss'
        self._teacher_head = where
        self._teacher_tasks = self._tasks_of(module, where)
        if self.reg_heads is not None:
            heads = set(module.task_heads[0].heads)
            missing = sorted(set(self.reg_heads) - heads)
            if missing:
                raise ValueError(f'{self._where}.reg_heads names {missing}, which the '
                                 f'teacher head does not have; its heads: {sorted(heads)}')

    def bind_student_module(self, module, where: str) -> None:
        """Refuse a student head whose tasks or classes differ from the teacher's."""
        student = self._tasks_of(module, where)
        if self._teacher_tasks is not None and student != self._teacher_tasks:
            raise ValueError(
                f'{self._where}: CenterHeadDistillLoss needs the same tasks with the same '
                f'classes in the same order on both heads (their `tasks` config); '
                f'{self._teacher_head}: {self._teacher_tasks}, {where}: {student}')

    # ------------------------------------------------------------------ forward
    def _task_dicts(self, out: Sequence, who: str) -> List[Dict[str, Tensor]]:
        tasks = []
        for i, levels in enumerate(out):
            item = levels[0] if isinstance(levels, (list, tuple)) else levels
            if not isinstance(item, dict) or HEATMAP not in item:
                raise TypeError(f"{self._where}: {who} head output of task {i} is not a "
                                f"CenterHead dict with a '{HEATMAP}' map "
                                f'(got {type(item).__name__})')
            tasks.append(item)
        return tasks

    def forward(self, teacher_out: Sequence, student_out: Sequence) -> Tensor:
        """Loss between the raw ``CenterHead.forward`` outputs of teacher and student.

        Args:
            teacher_out / student_out: tuple over tasks of ``[dict(heatmap (B, K, H, W),
                reg (B, 2, H, W), height (B, 1, H, W), dim (B, 3, H, W), rot (B, 2, H, W),
                ...)]``.

        Returns:
            Tensor: scalar loss.
        """
        t_tasks = self._task_dicts(teacher_out, 'teacher')
        s_tasks = self._task_dicts(student_out, 'student')
        if len(t_tasks) != len(s_tasks):
            raise ValueError(f'{self._where}: the teacher head has {len(t_tasks)} tasks, the '
                             f'student head {len(s_tasks)}')
        total = s_tasks[0][HEATMAP].new_zeros(())
        for i, (t, s) in enumerate(zip(t_tasks, s_tasks)):
            heads = self.reg_heads or tuple(k for k in t if k != HEATMAP)
            for key in (HEATMAP, ) + heads:
                if key not in s or s[key].shape != t[key].shape:
                    raise ValueError(
                        f'{self._where}: task {i} {key!r}: teacher map '
                        f'{tuple(t[key].shape)}, student '
                        f'{tuple(s[key].shape) if key in s else "missing"}; both heads must '
                        f'predict on the same grid (same out_size_factor and BEV size)')
            total = total + self._task_loss(t, s, heads)
        return self.loss_weight * total

    def _task_loss(self, t: Dict[str, Tensor], s: Dict[str, Tensor],
                   heads: Sequence[str]) -> Tensor:
        """``heatmap_weight * L^hm + reg_weight * L^reg`` of one task (module docstring)."""
        t_logit = t[HEATMAP].detach().float()
        s_logit = s[HEATMAP].float()
        p_t = t_logit.sigmoid().clamp(_EPS, 1 - _EPS)
        peaks = teacher_peaks(p_t, self.peak_thr, self.peak_kernel)
        n_peaks = max(int(peaks.sum()), 1)
        p_s = s_logit.sigmoid().clamp(_EPS, 1 - _EPS)
        if self.heatmap_loss == 'focal':
            bce = F.binary_cross_entropy(p_s, p_t, reduction='none')
            hm = ((p_t - p_s).abs().pow(self.focal_beta) * bce).sum()
        else:
            hm = (p_s - p_t).pow(2).sum()
        loss = self.heatmap_weight * hm / n_peaks
        if self.reg_weight == 0 or not heads:
            return loss
        weight = (p_t * peaks).amax(dim=1)  # (B, H, W)
        diff = sum((s[h].float() - t[h].detach().float()).abs().sum(dim=1) for h in heads)
        reg = (weight * diff).sum() / weight.sum().clamp(min=1e-6)
        return loss + self.reg_weight * reg
