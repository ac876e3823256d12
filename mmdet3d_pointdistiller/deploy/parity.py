"""Parity of two detection sets and of raw head outputs (ONNX Runtime against PyTorch).

Used by the deployment benchmark and tests for every exported family (PointPillars, pillar
CenterPoint).
"""
from __future__ import annotations

from typing import Any, Dict, Sequence

import shapely
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

__all__ = ['iou_3d_float64', 'compare_predictions', 'max_abs_diff']


def iou_3d_float64(boxes1: Any, boxes2: Any) -> Tensor:
    """3-D IoU of every pair of two sets of LiDAR boxes.

    BEV intersections and areas are computed by shapely (an mmdet3d dependency, float64) on
    the bottom-face corners that mmdet3d's own ``LiDARInstance3DBoxes.corners`` gives (float32,
    as mmdet3d's box structures hold them), heights by ``height_overlaps``; identical boxes
    give 1 to ~1e-7. mmdet3d's ``overlaps`` is not used here because it calls mmcv
    2.1.0's float32 CPU ``box_iou_rotated``, which returns 0 for some pairs of nearly
    coincident boxes (measured: 5 of 50 pairs whose 7 parameters agree to 1e-6), exactly the
    pairs a parity check compares.

    Args:
        boxes1: ``LiDARInstance3DBoxes`` with n boxes.
        boxes2: ``LiDARInstance3DBoxes`` with m boxes.

    Returns:
        (n, m) float64 IoU.
    """
    box_type = type(boxes1)
    b1, b2 = boxes1, boxes2
    bottom = [0, 3, 7, 4]  # x0y0, x0y1, x1y1, x1y0 at z0: a simple ring
    poly1 = shapely.polygons(b1.corners[:, bottom, :2].numpy())
    poly2 = shapely.polygons(b2.corners[:, bottom, :2].numpy())
    pairs = shapely.intersection(poly1[:, None], poly2[None, :])  # (n, m) polygons
    inter_bev = torch.from_numpy(shapely.area(pairs))
    inter = inter_bev * box_type.height_overlaps(b1, b2).double()
    vol1 = torch.from_numpy(shapely.area(poly1))[:, None] * b1.dims[:, 2, None].double()
    vol2 = torch.from_numpy(shapely.area(poly2))[None, :] * b2.dims[None, :, 2].double()
    return inter / (vol1 + vol2 - inter).clamp(min=1e-12)


def compare_predictions(ref: Any, test: Any, iou_thr: float = 0.99,
                        score_tol: float = 1e-4) -> Dict[str, Any]:
    """Whether two detection sets are the same set of boxes.

    Pairs are matched one to one by a Hungarian assignment on 3-D IoU
    (:func:`iou_3d_float64`), only within the same label.

    Args:
        ref, test: ``InstanceData`` with ``bboxes_3d``, ``scores_3d``, ``labels_3d``.
        iou_thr: every matched pair must have a 3-D IoU above this.
        score_tol: and a score difference below this.

    Returns:
        ``count_ref``, ``count_test``, ``min_iou`` (1.0 when both are empty),
        ``max_score_diff``, ``max_box_diff`` (largest absolute difference of the 7 box
        parameters over matched pairs) and ``boxes_equal``.
    """
    n_ref, n_test = len(ref.scores_3d), len(test.scores_3d)
    out = dict(count_ref=n_ref, count_test=n_test, min_iou=1.0, max_score_diff=0.0,
               max_box_diff=0.0, boxes_equal=n_ref == n_test)
    if n_ref != n_test or n_ref == 0:
        if n_ref != n_test:
            out.update(min_iou=0.0, max_score_diff=float('inf'), max_box_diff=float('inf'))
        return out
    iou = iou_3d_float64(ref.bboxes_3d, test.bboxes_3d)
    same_label = ref.labels_3d[:, None] == test.labels_3d[None, :]
    cost = torch.where(same_label, -iou, torch.full_like(iou, 1e3)).numpy()
    rows, cols = linear_sum_assignment(cost)
    rows_t, cols_t = torch.as_tensor(rows), torch.as_tensor(cols)
    labels_ok = bool((ref.labels_3d[rows_t] == test.labels_3d[cols_t]).all())
    matched_iou = iou[rows_t, cols_t]
    score_diff = (ref.scores_3d[rows_t].double() - test.scores_3d[cols_t].double()).abs()
    box_diff = (ref.bboxes_3d.tensor[rows_t, :7].double()
                - test.bboxes_3d.tensor[cols_t, :7].double()).abs()
    out.update(min_iou=float(matched_iou.min()), max_score_diff=float(score_diff.max()),
               max_box_diff=float(box_diff.max()))
    out['boxes_equal'] = bool(labels_ok and out['min_iou'] > iou_thr
                              and out['max_score_diff'] < score_tol)
    return out


def max_abs_diff(ref: Sequence[Tensor], test: Sequence[Tensor]) -> Dict[str, float]:
    """Largest absolute and relative (to the reference's largest magnitude) difference over
    all raw head outputs."""
    abs_d, scale = 0.0, 0.0
    for a, b in zip(ref, test):
        if a.shape != b.shape:
            raise ValueError(f'output shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}')
        abs_d = max(abs_d, float((a.double() - b.double()).abs().max()))
        scale = max(scale, float(a.abs().max()))
    return dict(max_abs_diff=abs_d, max_rel_diff=abs_d / scale if scale else 0.0,
                max_ref_magnitude=scale)
