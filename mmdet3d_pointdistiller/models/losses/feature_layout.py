"""Feature layouts of a distillation tap: names, shapes, the teacher/student pair check.

A tap's ``loss.feature_layout`` says how the recorded teacher and student features are laid
out; the distiller, :class:`~.pointdistiller_loss.PointDistillerLoss` and the Table 3 KD losses
(:mod:`.kd_methods`) all read it from here.

Notation used in the shapes below:

* ``M``  non-empty voxels / pillars of the whole batch (one row each),
* ``B``  samples of the batch, ``H, W`` BEV map size, ``P`` points per sample,
* ``C``  feature channels (``C_T`` teacher, ``C_S`` student).

Layouts:

* ``'voxel'``: (M, C) rows, with ``batch_idx`` (M,) giving each row's sample (and, for the
  PointDistiller score, ``num_points`` (M,)), both taken from the preprocessor's hard-voxel
  dict by :func:`layout_loss_inputs`;
* ``'bev'``: (B, C, H, W) maps;
* ``'point'``: (B, C, P) point features;
* ``'head'``: the raw outputs of a dense head (a tuple, e.g. ``(cls_scores, bbox_preds,
  dir_cls_preds)``, each a list over levels), not a feature tensor (only
  ``SESSDConsistencyLoss``).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor

# the layouts of a feature tensor, and the raw-head-output layout
FEATURE_LAYOUTS = ('voxel', 'bev', 'point')
HEAD_LAYOUT = 'head'
LAYOUTS = FEATURE_LAYOUTS + (HEAD_LAYOUT, )

# layout -> (number of dimensions, feature shape text, element shape text (all but C))
_SHAPES = {'voxel': (2, '(M, C)', '(M,)'),
           'bev': (4, '(B, C, H, W)', '(B, H, W)'),
           'point': (3, '(B, C, P)', '(B, P)')}

__all__ = ['FEATURE_LAYOUTS', 'HEAD_LAYOUT', 'LAYOUTS', 'layout_ndim', 'check_feature_pair',
           'layout_loss_inputs', 'FeatureLayoutLoss']


def layout_ndim(layout: str) -> Optional[int]:
    """Dimensions of a feature in ``layout``; ``None`` for ``'head'`` (a tuple, not a Tensor).

    Raises:
        KeyError: for a name outside :data:`LAYOUTS`.
    """
    if layout == HEAD_LAYOUT:
        return None
    return _SHAPES[layout][0]


def check_feature_pair(layout: str, teacher_feat: Tensor, student_feat: Tensor,
                       teacher_channels: int, student_channels: int,
                       batch_idx: Optional[Tensor]) -> None:
    """Check a teacher/student feature pair (and ``batch_idx``) against a tensor layout.

    Args:
        layout (str): one of :data:`FEATURE_LAYOUTS`.
        teacher_feat (Tensor): voxel (M, C_T); bev (B, C_T, H, W); point (B, C_T, P).
        student_feat (Tensor): the same layout with C_S channels and the same elements.
        teacher_channels (int): C_T the loss was configured with (``teacher_channels``).
        student_channels (int): C_S (``student_channels``).
        batch_idx (Tensor, optional): (M,) non-negative integer sample index of every row;
            required for the voxel layout, ignored otherwise.

    Raises:
        ValueError: naming the argument (or config key) and the offending value.
    """
    for name, feat in (('teacher_feat', teacher_feat), ('student_feat', student_feat)):
        if not isinstance(feat, Tensor) or not feat.is_floating_point():
            raise ValueError(f'{name} must be a floating-point Tensor, got '
                             f'{type(feat).__name__}'
                             + (f' of dtype {feat.dtype}' if isinstance(feat, Tensor) else ''))
    ndim, shape_doc, elem_doc = _SHAPES[layout]
    for name, feat in (('teacher_feat', teacher_feat), ('student_feat', student_feat)):
        if feat.dim() != ndim:
            raise ValueError(f"feature_layout='{layout}' expects {name} of shape "
                             f'{shape_doc}, got shape {tuple(feat.shape)}')
    for name, feat, cfg_name, expected in (
            ('teacher_feat', teacher_feat, 'teacher_channels', teacher_channels),
            ('student_feat', student_feat, 'student_channels', student_channels)):
        if feat.shape[1] != expected:
            raise ValueError(f'{name} has {feat.shape[1]} channels but {cfg_name}={expected}')
    t_rest = (teacher_feat.shape[0], ) + tuple(teacher_feat.shape[2:])
    s_rest = (student_feat.shape[0], ) + tuple(student_feat.shape[2:])
    if t_rest != s_rest:
        raise ValueError('teacher_feat and student_feat must describe the same elements: '
                         f'teacher {elem_doc}={t_rest}, student {elem_doc}={s_rest}')
    if teacher_feat.device != student_feat.device:
        raise ValueError(f'teacher_feat is on {teacher_feat.device} but student_feat is on '
                         f'{student_feat.device}')
    if layout != 'voxel':
        return
    num_elem = teacher_feat.shape[0]
    if batch_idx is None:
        raise ValueError("batch_idx (M,) is required for feature_layout='voxel'")
    if (not isinstance(batch_idx, Tensor) or batch_idx.dtype.is_floating_point
            or batch_idx.dtype == torch.bool or tuple(batch_idx.shape) != (num_elem, )):
        raise ValueError(f'batch_idx must be an integer Tensor of shape ({num_elem},), got '
                         + (f'{batch_idx.dtype} of shape {tuple(batch_idx.shape)}'
                            if isinstance(batch_idx, Tensor) else type(batch_idx).__name__))
    if num_elem > 0 and int(batch_idx.min()) < 0:
        raise ValueError('batch_idx must be non-negative sample indices, got '
                         f'min {int(batch_idx.min())}')


def layout_loss_inputs(layout: str, batch_inputs_dict: dict, teacher_feat: object,
                       where: str) -> Dict[str, Tensor]:
    """The per-tap keyword inputs of a loss in ``layout``, taken from the batch inputs.

    Only the voxel layout has any: ``batch_idx`` (M,) long, the sample index of each voxel
    (column 0 of the preprocessor's ``coors``), and ``num_points`` (M,) when the
    preprocessor gives it.

    Args:
        layout (str): the tap's layout.
        batch_inputs_dict (dict): preprocessed inputs; the voxel layout needs the hard-voxel
            dict ``voxels`` = dict(voxels (M, T, C), coors (M, 1 + D), num_points (M,)).
        teacher_feat: the recorded teacher feature, (M, C_T) for the voxel layout.
        where (str): the tap's config key for messages, e.g. ``'distill_cfg[0]'``.

    Raises:
        KeyError: the voxel layout without a hard-voxel dict.
        ValueError: a voxel feature whose rows are not the voxels.
    """
    if layout != 'voxel':
        return {}
    voxels = batch_inputs_dict.get('voxels')
    if not isinstance(voxels, dict) or 'coors' not in voxels:
        raise KeyError(f"{where}.loss.feature_layout='voxel' needs the hard-voxel "
                       f"dict batch_inputs_dict['voxels'] (coors, num_points); the "
                       f"data preprocessor did not produce it")
    if voxels['coors'].shape[0] != teacher_feat.shape[0]:
        raise ValueError(f"{where}: {teacher_feat.shape[0]} voxel features but "
                         f"{voxels['coors'].shape[0]} voxels; tap the voxel encoder "
                         f"output (one row per voxel) for the 'voxel' layout")
    kwargs = dict(batch_idx=voxels['coors'][:, 0].long())
    if 'num_points' in voxels:
        kwargs['num_points'] = voxels['num_points']
    return kwargs


class FeatureLayoutLoss(BaseModule):
    """Base of the losses on a teacher/student feature pair: input check, dtype, zero loss.

    Shared by :class:`~.pointdistiller_loss.PointDistillerLoss` and
    :class:`~.kd_methods.base.FeatureKDLoss`. A subclass sets ``teacher_channels``,
    ``student_channels`` and ``feature_layout`` (one of :data:`FEATURE_LAYOUTS`, checked
    against its own ``LAYOUTS`` with its own message) in its constructor.

    Attributes:
        LAYOUTS (tuple[str]): the layouts the loss supports.
    """

    LAYOUTS: Sequence[str] = FEATURE_LAYOUTS
    teacher_channels: int
    student_channels: int
    feature_layout: str

    def _check_inputs(self, teacher_feat: Tensor, student_feat: Tensor,
                      batch_idx: Optional[Tensor]) -> None:
        """Shapes, channels, devices and ``batch_idx``, see :func:`check_feature_pair`."""
        check_feature_pair(self.feature_layout, teacher_feat, student_feat,
                           self.teacher_channels, self.student_channels, batch_idx)

    def compute_dtype(self, ref: Optional[Tensor] = None) -> torch.dtype:
        """float64 if the module's parameters are float64 (or, for a module without
        parameters, if ``ref`` is float64), else float32 (also under mixed precision)."""
        params = list(self.parameters())
        if any(p.dtype == torch.float64 for p in params):
            return torch.float64
        if not params and ref is not None and ref.dtype == torch.float64:
            return torch.float64
        return torch.float32

    def zero_loss(self, *refs: Tensor, dtype: Optional[torch.dtype] = None) -> Tensor:
        """A zero connected to ``refs`` and to every parameter (backward/DDP keep working).

        Args:
            *refs (Tensor): tensors the zero depends on (e.g. the student feature).
            dtype (torch.dtype, optional): dtype of the zero; defaults to that of
                ``refs[0]``, else :meth:`compute_dtype`.
        """
        if dtype is None:
            dtype = refs[0].dtype if refs else self.compute_dtype()
        zero = sum(r.sum().to(dtype) * 0 for r in refs)
        for param in self.parameters():
            zero = zero + param.sum().to(dtype) * 0
        return zero
