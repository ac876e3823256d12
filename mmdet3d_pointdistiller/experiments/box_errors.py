"""Box error statistics of a detector on simulated val frames: what limits 3D AP at IoU 0.7.

For every ground-truth box of a class, the prediction of the same class with the largest BEV
IoU (>= ``match_bev_iou``) is its match. Reported over the matched pairs:

* mean / std of the errors ``pred - gt`` of x, y, z, l, w, h and yaw (wrapped to (-pi/2,
  pi/2], since a box and its 180-degree turn are the same box for IoU);
* least-squares slopes of predicted against ground-truth z, l, w, h (1 = the size is learnt,
  0 = a constant is predicted);
* the histogram of the matched pairs' 3D IoU, and the fraction at >= 0.7 as predicted and
  with the ground-truth z and h swapped in (the oracle that isolates the vertical error).

Boxes are mmdet3d ``LiDARInstance3DBoxes`` (x, y, z of the bottom centre, l, w, h, yaw); IoUs
are mmdet3d's own (``overlaps``, mmcv's rotated IoU).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from mmdet3d.structures import LiDARInstance3DBoxes

__all__ = ['match_boxes', 'error_statistics']

IOU_BINS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0001)


def _iou(a: np.ndarray, b: np.ndarray, bev: bool) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    ba = LiDARInstance3DBoxes(torch.as_tensor(a, dtype=torch.float32))
    bb = LiDARInstance3DBoxes(torch.as_tensor(b, dtype=torch.float32))
    if bev:
        return LiDARInstance3DBoxes.overlaps(
            LiDARInstance3DBoxes(torch.cat([ba.tensor[:, :2], torch.zeros_like(ba.tensor[:, :1]),
                                            ba.tensor[:, 3:5], torch.ones_like(
                                                ba.tensor[:, :1]), ba.tensor[:, 6:7]], 1)),
            LiDARInstance3DBoxes(torch.cat([bb.tensor[:, :2], torch.zeros_like(bb.tensor[:, :1]),
                                            bb.tensor[:, 3:5], torch.ones_like(
                                                bb.tensor[:, :1]), bb.tensor[:, 6:7]], 1)),
        ).numpy().astype(np.float64)
    return LiDARInstance3DBoxes.overlaps(ba, bb).numpy().astype(np.float64)


def match_boxes(gt: np.ndarray, pred: np.ndarray, match_bev_iou: float = 0.1) -> List[tuple]:
    """Greedy one-to-one matching by BEV IoU: ``[(gt_index, pred_index, bev_iou), ...]``.

    Args:
        gt: (G, 7) ground-truth LiDAR boxes. pred: (P, 7) predicted boxes.
    """
    iou = _iou(gt, pred, bev=True)
    pairs, used_g, used_p = [], set(), set()
    for flat in np.argsort(-iou, axis=None):
        g, p = divmod(int(flat), iou.shape[1])
        if iou[g, p] < match_bev_iou:
            break
        if g in used_g or p in used_p:
            continue
        used_g.add(g)
        used_p.add(p)
        pairs.append((g, p, float(iou[g, p])))
    return pairs


def _wrap_yaw(d: np.ndarray) -> np.ndarray:
    return (d + math.pi / 2) % math.pi - math.pi / 2


def error_statistics(gts: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                     match_bev_iou: float = 0.1) -> Optional[Dict]:
    """Statistics over all frames' matched pairs (see the module docstring); None without a
    match."""
    g_all, p_all = [], []
    for gt, pred in zip(gts, preds):
        for g, p, _ in match_boxes(gt, pred, match_bev_iou):
            g_all.append(gt[g])
            p_all.append(pred[p])
    if not g_all:
        return None
    g_arr, p_arr = np.stack(g_all).astype(np.float64), np.stack(p_all).astype(np.float64)
    err = p_arr - g_arr
    err[:, 6] = _wrap_yaw(err[:, 6])
    names = ('x', 'y', 'z', 'l', 'w', 'h', 'yaw')
    out: Dict = dict(matched=len(g_arr), gt=int(sum(len(g) for g in gts)))
    out['error_mean'] = {n: float(err[:, i].mean()) for i, n in enumerate(names)}
    out['error_std'] = {n: float(err[:, i].std()) for i, n in enumerate(names)}
    slopes = {}
    for i, n in ((2, 'z'), (3, 'l'), (4, 'w'), (5, 'h')):
        x = g_arr[:, i] - g_arr[:, i].mean()
        centred = p_arr[:, i] - p_arr[:, i].mean()
        slopes[n] = float((x * centred).sum() / max((x * x).sum(), 1e-12))
    out['slope_pred_vs_gt'] = slopes
    iou3d = np.array([_iou(p[None], g[None], bev=False)[0, 0] for g, p in zip(g_arr, p_arr)])
    oracle = p_arr.copy()
    oracle[:, 2], oracle[:, 5] = g_arr[:, 2], g_arr[:, 5]
    iou_oracle = np.array([_iou(p[None], g[None], bev=False)[0, 0]
                           for g, p in zip(g_arr, oracle)])
    hist, _ = np.histogram(iou3d, bins=IOU_BINS)
    out['iou3d_hist'] = dict(bins=list(IOU_BINS[:-1]) + [1.0], counts=hist.tolist())
    out['iou3d_mean'] = float(iou3d.mean())
    out['frac_iou3d_ge_0.7'] = float((iou3d >= 0.7).mean())
    out['frac_iou3d_ge_0.7_gt_z_h'] = float((iou_oracle >= 0.7).mean())
    return out
