"""SE-SSD teacher-student consistency (Zheng et al., CVPR 2021) on anchor-head predictions."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmcv.ops import nms_rotated
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import get_box_type

from .base import check_number, check_positive_int


@MODELS.register_module()
class SESSDConsistencyLoss(BaseModule):
    r"""IoU-matched box and class consistency between student and teacher predictions.

    SE-SSD trains a student on the (differently augmented) input of a teacher and pulls the
    student's boxes towards the teacher's confident ones. Here the teacher is the frozen
    pre-trained detector and both see the same input (distillation rather than
    self-ensembling; there is no EMA teacher and no shape-aware augmentation). Per sample:

    1. decode the predictions of an anchor head (``Anchor3DHead``: per level
       ``cls_score`` (B, A*C, H, W), ``bbox_pred`` (B, A*7, H, W)) on its anchors with its
       box coder, exactly as ``Anchor3DHead.predict_by_feat`` orders them;
    2. keep, for teacher and student separately, the boxes whose max sigmoid class score
       exceeds ``score_thr``, the ``nms_pre`` best, then class-agnostic rotated BEV NMS
       (``mmcv.ops.nms_rotated``, IoU ``nms_thr``) and at most ``max_num`` boxes; the
       student's selection uses its detached scores, its kept boxes stay differentiable;
    3. match every kept student box to the teacher box of largest 3-D IoU
       (``LiDARInstance3DBoxes.overlaps``); pairs with IoU > ``iou_thr`` are consistent
       pairs;
    4. box consistency: Smooth-L1 (``beta``) of |dx|, |dy|, |dz|, |dw|, |dl|, |dh| and
       |sin(theta_S - theta_T)|, averaged over the 7 terms; class consistency: Smooth-L1 of
       |sigmoid(c_S) - sigmoid(c_T)| averaged over the C classes; both summed over the
       consistent pairs and divided by the number of kept student boxes of the batch (SE-SSD's
       N'); ``loss = loss_weight * (box_weight * L_box + cls_weight * L_cls)``.

    SE-SSD ramps the consistency weight up during training; here ``loss_weight`` is
    constant. The direction classifier output is not used (|sin| is flip-invariant).

    The anchor generator, box coder and class count come from the teacher's head
    (:meth:`bind_teacher_module`, called by the distiller for a ``'head'`` tap on
    ``bbox_head``) unless ``anchor_generator``, ``bbox_coder`` and ``num_classes`` are given.

    Args:
        feature_layout (str): must be ``'head'``.
        iou_thr (float): tau_I of the matching (SE-SSD: 0.7).
        score_thr (float): confidence threshold before NMS.
        nms_pre (int): boxes kept before NMS.
        nms_thr (float): rotated BEV NMS IoU threshold.
        max_num (int): boxes kept after NMS.
        box_weight, cls_weight (float): weights of the two terms.
        beta (float): Smooth-L1 transition point (mmdet3d PointPillars: 1/9).
        box_type_3d (str): box type of the predictions (``'LiDAR'``).
        anchor_generator, bbox_coder (dict, optional): TASK_UTILS configs.
        num_classes (int, optional): classes of the head.
        loss_weight (float): multiplier.
        init_cfg (dict, optional): unused (no parameters).

    Attributes:
        last_stats (dict): ``num_teacher``, ``num_student``, ``num_pairs`` of the last call.
    """

    def __init__(self,
                 feature_layout: str = 'head',
                 iou_thr: float = 0.7,
                 score_thr: float = 0.3,
                 nms_pre: int = 1000,
                 nms_thr: float = 0.01,
                 max_num: int = 100,
                 box_weight: float = 1.0,
                 cls_weight: float = 1.0,
                 beta: float = 1.0 / 9.0,
                 box_type_3d: str = 'LiDAR',
                 anchor_generator: Optional[dict] = None,
                 bbox_coder: Optional[dict] = None,
                 num_classes: Optional[int] = None,
                 loss_weight: float = 1.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if feature_layout != 'head':
            raise ValueError(f"SESSDConsistencyLoss works on feature_layout='head' (raw head "
                             f'outputs), got {feature_layout!r}')
        self.feature_layout = feature_layout
        self.iou_thr = check_number('iou_thr', iou_thr)
        self.score_thr = check_number('score_thr', score_thr)
        self.nms_pre = check_positive_int('nms_pre', nms_pre)
        self.nms_thr = check_number('nms_thr', nms_thr)
        self.max_num = check_positive_int('max_num', max_num)
        self.box_weight = check_number('box_weight', box_weight)
        self.cls_weight = check_number('cls_weight', cls_weight)
        self.beta = check_number('beta', beta)
        self.loss_weight = check_number('loss_weight', loss_weight)
        self.box_type, _ = get_box_type(box_type_3d)
        configured = [anchor_generator is not None, bbox_coder is not None,
                      num_classes is not None]
        if any(configured) and not all(configured):
            raise ValueError('give all of anchor_generator, bbox_coder and num_classes, or none '
                             '(then they come from the tapped teacher head)')
        self.prior_generator = None
        self.bbox_coder = None
        self.num_classes: Optional[int] = None
        if all(configured):
            self.prior_generator = TASK_UTILS.build(anchor_generator)
            self.bbox_coder = TASK_UTILS.build(bbox_coder)
            self.num_classes = check_positive_int('num_classes', num_classes)
        self.last_stats: Dict[str, int] = {}

    def bind_teacher_module(self, module: nn.Module, where: str = 'teacher module') -> None:
        """Take anchor generator, box coder and class count from the teacher's anchor head."""
        if self.prior_generator is not None:
            return
        missing = [a for a in ('prior_generator', 'bbox_coder', 'num_classes')
                   if not hasattr(module, a)]
        if missing:
            raise ValueError(f'{where}: SESSDConsistencyLoss needs an anchor head (e.g. '
                             f'Anchor3DHead) with {missing}; {type(module).__name__} has none')
        if not getattr(module, 'use_sigmoid_cls', True):
            raise ValueError(f'{where}: SESSDConsistencyLoss needs sigmoid class scores '
                             f'(use_sigmoid_cls=True)')
        for attr in ('prior_generator', 'bbox_coder'):
            if isinstance(getattr(module, attr), nn.Module):
                raise ValueError(f'{where}: {attr} is an nn.Module; it would be registered '
                                 f'twice')
        self.prior_generator = module.prior_generator
        self.bbox_coder = module.bbox_coder
        self.num_classes = int(module.num_classes)

    # ----------------------------------------------------------------- helpers
    def flatten_level_outputs(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor]
                              ) -> Tuple[Tensor, Tensor, Tensor]:
        """Per-anchor logits, deltas and anchors of all levels.

        Returns:
            tuple: cls (B, N, C), deltas (B, N, code) and anchors (N, code), N = sum over
            levels of H * W * A, in ``Anchor3DHead.predict_by_feat`` order.
        """
        code = self.bbox_coder.code_size
        sizes = [c.shape[-2:] for c in cls_scores]
        anchors = self.prior_generator.grid_anchors(sizes, device=cls_scores[0].device)
        num_batch = cls_scores[0].shape[0]
        cls = torch.cat([c.permute(0, 2, 3, 1).reshape(num_batch, -1, self.num_classes)
                         for c in cls_scores], dim=1)
        deltas = torch.cat([d.permute(0, 2, 3, 1).reshape(num_batch, -1, code)
                            for d in bbox_preds], dim=1)
        anchors = torch.cat([a.reshape(-1, code) for a in anchors])
        if anchors.shape[0] != cls.shape[1] or deltas.shape[1] != cls.shape[1]:
            raise ValueError(f'{anchors.shape[0]} anchors, {cls.shape[1]} class and '
                             f'{deltas.shape[1]} box predictions: the head outputs do not fit '
                             f'the anchor generator')
        return cls, deltas, anchors

    def select(self, logits: Tensor, deltas: Tensor, anchors: Tensor) -> Tuple[Tensor, Tensor]:
        """Score threshold, top ``nms_pre``, rotated NMS, ``max_num``.

        Args:
            logits (Tensor): (N, C) class logits of one sample.
            deltas (Tensor): (N, code) box deltas.
            anchors (Tensor): (N, code).

        Returns:
            tuple: kept indices (n,) into N (best first) and their decoded boxes (n, code)
            (differentiable w.r.t. ``deltas``).
        """
        with torch.no_grad():
            score = logits.detach().sigmoid().amax(dim=1)
            cand = torch.nonzero(score > self.score_thr).squeeze(1)
            if cand.numel() > self.nms_pre:
                cand = cand[score[cand].topk(self.nms_pre).indices]
        if cand.numel() == 0:
            return cand, deltas.new_zeros((0, deltas.shape[1]))
        boxes = self.bbox_coder.decode(anchors[cand], deltas[cand])
        with torch.no_grad():
            bev = self.box_type(boxes.detach(), box_dim=boxes.shape[1]).bev
            _, keep = nms_rotated(bev.float(), score[cand].float(), self.nms_thr)
            keep = keep[:self.max_num]
        return cand[keep], boxes[keep]

    def _smooth_l1(self, diff: Tensor) -> Tensor:
        return F.smooth_l1_loss(diff, torch.zeros_like(diff), reduction='none', beta=self.beta)

    # ----------------------------------------------------------------- forward
    def forward(self, teacher_out: Sequence, student_out: Sequence, **kwargs) -> Tensor:
        """Consistency loss of one batch.

        Args:
            teacher_out (tuple): raw teacher head outputs ``(cls_scores, bbox_preds, ...)``,
                each a list over levels of (B, A*C, H, W) / (B, A*code, H, W). Detached.
            student_out (tuple): the student's, same shapes.
            **kwargs: unused.

        Returns:
            Tensor: scalar loss.
        """
        if self.prior_generator is None:
            raise RuntimeError('SESSDConsistencyLoss has no anchor generator/box coder: tap the '
                               "teacher's bbox_head (feature_layout='head') in "
                               'PointDistillerDetector, or configure anchor_generator, '
                               'bbox_coder and num_classes')
        for name, out in (('teacher_out', teacher_out), ('student_out', student_out)):
            if not isinstance(out, (tuple, list)) or len(out) < 2 or not all(
                    isinstance(x, (tuple, list)) and x and all(isinstance(t, Tensor) for t in x)
                    for x in out[:2]):
                raise ValueError(f'{name} must be (cls_scores, bbox_preds, ...) with lists of '
                                 f'Tensors per level')
        for t, s in zip(list(teacher_out[0]) + list(teacher_out[1]),
                        list(student_out[0]) + list(student_out[1])):
            if t.shape != s.shape:
                raise ValueError(f'teacher and student head outputs differ in shape: '
                                 f'{tuple(t.shape)} vs {tuple(s.shape)}')
        s_ref = student_out[0][0]
        with torch.autocast(device_type=s_ref.device.type, enabled=False):
            t_cls, t_deltas, anchors = self.flatten_level_outputs(
                [x.detach().float() for x in teacher_out[0]],
                [x.detach().float() for x in teacher_out[1]])
            s_cls, s_deltas, _ = self.flatten_level_outputs(
                [x.float() for x in student_out[0]], [x.float() for x in student_out[1]])
            return self._loss(t_cls, t_deltas, s_cls, s_deltas, anchors)

    def _loss(self, t_cls: Tensor, t_deltas: Tensor, s_cls: Tensor, s_deltas: Tensor,
              anchors: Tensor) -> Tensor:
        box_terms: List[Tensor] = []
        cls_terms: List[Tensor] = []
        num_t = num_s = 0
        for b in range(t_cls.shape[0]):
            t_idx, t_boxes = self.select(t_cls[b], t_deltas[b], anchors)
            s_idx, s_boxes = self.select(s_cls[b], s_deltas[b], anchors)
            num_t += t_idx.numel()
            num_s += s_idx.numel()
            if t_idx.numel() == 0 or s_idx.numel() == 0:
                continue
            with torch.no_grad():
                dim = s_boxes.shape[1]
                iou = self.box_type.overlaps(self.box_type(s_boxes.detach(), box_dim=dim),
                                             self.box_type(t_boxes, box_dim=dim))
                best_iou, best = iou.max(dim=1)
                matched = torch.nonzero(best_iou > self.iou_thr).squeeze(1)
            if matched.numel() == 0:
                continue
            sb, tb = s_boxes[matched], t_boxes[best[matched]]
            delta = torch.cat([(sb[:, :6] - tb[:, :6]).abs(),
                               torch.sin(sb[:, 6:7] - tb[:, 6:7]).abs()], dim=1)
            box_terms.append(self._smooth_l1(delta).mean(dim=1))
            s_prob = s_cls[b][s_idx[matched]].sigmoid()
            t_prob = t_cls[b][t_idx[best[matched]]].sigmoid()
            cls_terms.append(self._smooth_l1((s_prob - t_prob).abs()).mean(dim=1))
        num_pairs = sum(x.numel() for x in box_terms)
        self.last_stats = dict(num_teacher=num_t, num_student=num_s, num_pairs=num_pairs)
        if num_pairs == 0:
            # a zero connected to the student's predictions (DDP / backward keep working)
            return (s_cls.sum() + s_deltas.sum()) * 0.0
        loss_box = torch.cat(box_terms).sum() / num_s
        loss_cls = torch.cat(cls_terms).sum() / num_s
        return self.loss_weight * (self.box_weight * loss_box + self.cls_weight * loss_cls)
