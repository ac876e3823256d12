"""Bird's-eye-view pictures of a detector on one LiDAR frame, and training curves.

One picture shows, seen from above with the sensor at the bottom (forward = up, left = left):

* the points (grey, darker = higher), the model's point-cloud range (dashed rectangle);
* ground-truth boxes when an mmdet3d info file is given (target classes in green, KITTI's
  non-target classes such as Van/Truck in grey, dashed);
* the predicted boxes above ``score_thr`` with class and score, a line to the box front;
* for a :class:`~mmdet3d_pointdistiller.models.PointDistillerDetector` with ``distill=True``:
  the N pillars the distiller selected on this frame, coloured by their weight
  ``w = N * softmax(score / tau)`` (the paper's Fig. 6). They are recorded
  (``PointDistillerLoss.recording_selection``) while the distiller's own ``loss()`` runs on the
  frame (in ``eval()`` mode, without gradients), so selection and weights are exactly those of
  training.

Used by ``tools/visualize_bev.py`` (any config + checkpoint + ``.bin``) and
``tools/quickstart.py``.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from mmengine.structures import InstanceData

from mmdet3d.structures import LiDARInstance3DBoxes

from mmdet3d_pointdistiller.models.losses.selection import recording_selections
# one reader of mmengine's scalars.json, shared with the KittiMetric readers (re-exported)
from mmdet3d_pointdistiller.utils.scalars import read_scalars

__all__ = ['distiller_selection', 'bev_box_corners', 'draw_bev', 'render_bev', 'read_scalars',
           'plot_training_curves', 'detection_loss']

_CLASS_COLOURS = {'Car': '#d62728', 'Pedestrian': '#1f77b4', 'Cyclist': '#ff7f0e'}


def distiller_selection(model, data: dict, gt_boxes: Optional[np.ndarray] = None,
                        gt_labels: Optional[Sequence[int]] = None) -> Dict[str, Dict[str, Any]]:
    """The elements a PointDistiller loss selects on this frame, with their weights.

    Runs the distiller's ``loss()`` once in ``eval()`` mode without gradients (the student's
    detection loss needs ground truth: ``gt_boxes`` / ``gt_labels``, or none, which means an
    empty scene for the head; selection and weights do not depend on it) and records the
    selection of every ``PointDistillerLoss`` (``recording_selection``).

    Args:
        model: a ``PointDistillerDetector`` with ``distill=True`` in ``eval()`` mode.
        data: a batch of one sample from :func:`~..apis.inference.load_frame`.
        gt_boxes: (K, 7) LiDAR boxes; gt_labels: K class indices of the model's classes.

    Returns:
        dict: per tap name: ``layout`` (str), ``index`` (N,) long, ``weight`` (N,) float and,
        for the voxel layout, ``xy`` (N, 2) pillar centres in metres and ``voxel_size``.
    """
    if not getattr(model, 'distill', False) or not hasattr(model, 'distill_losses'):
        raise TypeError('distiller_selection needs a PointDistillerDetector with distill=True')
    batch = model.data_preprocessor(copy.deepcopy(data), False)
    inputs, samples = batch['inputs'], batch['data_samples']
    boxes = np.zeros((0, 7), np.float32) if gt_boxes is None else np.asarray(gt_boxes)
    labels = [] if gt_labels is None else list(gt_labels)
    for s in samples:
        gt = InstanceData()
        gt.bboxes_3d = LiDARInstance3DBoxes(torch.as_tensor(boxes, dtype=torch.float32))
        gt.labels_3d = torch.as_tensor(labels, dtype=torch.long)
        s.gt_instances_3d = gt
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), recording_selections(model.distill_losses) as records:
            model.loss(inputs, samples)
    finally:
        model.train(was_training)
    out = {}
    for tap in model.taps:
        sel = records[tap.name][-1] if records.get(tap.name) else None
        if not sel:
            continue
        entry = dict(layout=tap.layout, index=sel[0]['index'].cpu(),
                     weight=sel[0]['weight'].cpu())
        if tap.layout == 'voxel':
            layer = model.data_preprocessor.voxel_layer
            vsize = np.asarray(layer.voxel_size, dtype=np.float64)
            pcr = np.asarray(layer.point_cloud_range, dtype=np.float64)
            coors = inputs['voxels']['coors'][entry['index']].cpu().numpy()  # (N, 4) b, z, y, x
            entry['xy'] = np.stack([(coors[:, 3] + 0.5) * vsize[0] + pcr[0],
                                    (coors[:, 2] + 0.5) * vsize[1] + pcr[1]], axis=1)
            entry['voxel_size'] = vsize[:2]
        out[tap.name] = entry
    return out


# ----------------------------------------------------------------------------- drawing
def bev_box_corners(boxes: np.ndarray) -> np.ndarray:
    """(K, 7) LiDAR boxes -> (K, 4, 2) BEV corner polygons (mmdet3d's own box geometry)."""
    if len(boxes) == 0:
        return np.zeros((0, 4, 2), dtype=np.float32)
    corners = LiDARInstance3DBoxes(torch.as_tensor(np.asarray(boxes), dtype=torch.float32)).corners
    return corners[:, [0, 3, 7, 4], :2].numpy()


def _to_plot(xy: np.ndarray) -> np.ndarray:
    """LiDAR (x forward, y left) -> plot (horizontal = -y, vertical = x)."""
    xy = np.asarray(xy)
    return np.stack([-xy[..., 1], xy[..., 0]], axis=-1)


def draw_bev(ax, points: np.ndarray, *, gt_boxes: Optional[np.ndarray] = None,
             gt_names: Sequence[str] = (), pred: Optional[Dict[str, np.ndarray]] = None,
             class_names: Sequence[str] = (), score_thr: float = 0.3,
             selection: Optional[Dict[str, Any]] = None,
             point_cloud_range: Optional[Sequence[float]] = None, title: str = '',
             target_classes: Sequence[str] = ('Car', 'Pedestrian', 'Cyclist')):
    """Draw one BEV picture into a matplotlib ``ax``.

    Args:
        points: (P, >=3) LiDAR points. gt_boxes: (K, 7), gt_names: K names.
        pred: output of :func:`~..apis.inference.predict_frame`. class_names: names of the
            model's labels.
        selection: one entry of :func:`distiller_selection` (voxel layout).
        point_cloud_range: the model's range; also the axis limits.

    Returns:
        the colour-bar mappable of the selection, or None.
    """
    pts = np.asarray(points)
    if point_cloud_range is not None:
        x0, y0, _, x1, y1, _ = point_cloud_range
        pad = 2.0
        ax.set_xlim(-y1 - pad, -y0 + pad)
        ax.set_ylim(x0 - pad, x1 + pad)
        ax.add_patch(Rectangle((-y1, x0), y1 - y0, x1 - x0, fill=False, ls='--', lw=0.8,
                               ec='0.5'))
        keep = ((pts[:, 0] > x0 - pad) & (pts[:, 0] < x1 + pad) & (pts[:, 1] > y0 - pad)
                & (pts[:, 1] < y1 + pad))
        pts = pts[keep]
    if len(pts):
        z = np.clip(pts[:, 2], -2.5, 1.0)
        p = _to_plot(pts[:, :2])
        ax.scatter(p[:, 0], p[:, 1], s=0.5, c=z, cmap='Greys', vmin=-5.0, vmax=1.0,
                   linewidths=0, rasterized=True)
    mappable = None
    if selection is not None and len(selection.get('weight', [])):
        w = np.asarray(selection['weight'], dtype=np.float64)
        c = _to_plot(selection['xy'])
        vs = selection['voxel_size']
        order = np.argsort(w)
        mappable = ax.scatter(c[order, 0], c[order, 1], c=w[order], cmap='plasma', marker='s',
                              s=max(2.0, 60.0 * float(vs[0])), alpha=0.85, linewidths=0,
                              zorder=3)
    if gt_boxes is not None and len(gt_boxes):
        for poly, name in zip(bev_box_corners(gt_boxes), gt_names):
            target = name in target_classes
            ax.add_patch(Polygon(_to_plot(poly), closed=True, fill=False,
                                 ec='#2ca02c' if target else '0.55', lw=1.4 if target else 0.8,
                                 ls='-' if target else '--', zorder=4))
    if pred is not None and len(pred['scores']):
        keep = pred['scores'] >= score_thr
        boxes, scores, labels = pred['boxes'][keep], pred['scores'][keep], pred['labels'][keep]
        for poly, box, score, label in zip(bev_box_corners(boxes), boxes, scores, labels):
            name = class_names[int(label)] if int(label) < len(class_names) else str(label)
            colour = _CLASS_COLOURS.get(name, '#9467bd')
            ax.add_patch(Polygon(_to_plot(poly), closed=True, fill=False, ec=colour, lw=1.0,
                                 zorder=5))
            front = _to_plot((poly[2] + poly[3]) / 2.0)
            centre = _to_plot(box[:2])
            ax.plot([centre[0], front[0]], [centre[1], front[1]], color=colour, lw=0.8, zorder=5)
            ax.text(centre[0], centre[1], f'{name[:3]} {score:.2f}', fontsize=5, color=colour,
                    zorder=6, ha='left', va='bottom')
    ax.set_aspect('equal')
    ax.set_xlabel('-y (m, left of the sensor to the left)')
    ax.set_ylabel('x (m, forward)')
    if title:
        ax.set_title(title, fontsize=8)
    return mappable


def render_bev(out_png: str, points: np.ndarray, *, title: str = '', **kwargs) -> str:
    """Draw :func:`draw_bev` into a new figure with a legend and save it as ``out_png``."""
    matplotlib.use('Agg')

    fig, ax = plt.subplots(figsize=(7, 7), dpi=150)
    mappable = draw_bev(ax, points, title=title, **kwargs)
    handles = [Line2D([], [], color='#2ca02c', lw=1.4, label='ground truth'),
               Line2D([], [], color='0.55', lw=0.8, ls='--', label='GT, non-target class')]
    handles += [Line2D([], [], color=c, lw=1.0, label=f'predicted {n}')
                for n, c in _CLASS_COLOURS.items()]
    if mappable is not None:
        cb = fig.colorbar(mappable, ax=ax, fraction=0.04, pad=0.02)
        cb.set_label('distillation weight w = N softmax(points per pillar / tau)', fontsize=7)
        handles.append(Line2D([], [], marker='s', ls='', color='#cc4778',
                              label='pillars selected by PointDistiller'))
    ax.legend(handles=handles, loc='upper left', fontsize=6, framealpha=0.8)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, bbox_inches='tight')
    plt.close(fig)
    return str(out_png)


# ----------------------------------------------------------------------------- curves
def detection_loss(record: dict) -> Optional[float]:
    """Sum of the detector's ``loss_*`` entries of a training record (KD terms excluded)."""
    keys = [k for k in record if k.startswith('loss_') and not k.startswith('loss_pd_')
            and not k.startswith('loss_kd_')]
    return float(sum(record[k] for k in keys)) if keys else None


def plot_training_curves(runs: Dict[str, str], out_png: str,
                         metric: str = ('Kitti metric/pred_instances_3d/KITTI/'
                                        'Overall_3D_AP40_moderate')) -> str:
    """Detection loss, KD loss and validation mAP against the iteration for several runs.

    Args:
        runs: display name -> work dir (with ``*/vis_data/scalars.json``).
        out_png: output file.
        metric: validation key plotted in the third panel.
    """
    matplotlib.use('Agg')

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=130)
    for name, work_dir in runs.items():
        recs = read_scalars(work_dir)
        train = [r for r in recs if 'iter' in r and detection_loss(r) is not None]
        if train:
            axes[0].plot([r['iter'] for r in train], [detection_loss(r) for r in train],
                         label=name, lw=1)
        kd = [r for r in train if any(k.startswith('loss_pd_') for k in r)]
        if kd:
            axes[1].plot([r['iter'] for r in kd],
                         [sum(v for k, v in r.items() if k.startswith('loss_pd_')) for r in kd],
                         label=name, lw=1)
        val = [r for r in recs if metric in r]
        if val:
            axes[2].plot([r['step'] for r in val], [r[metric] for r in val], marker='o',
                         label=name, lw=1)
    axes[0].set_title('detection loss (cls + bbox + dir)', fontsize=9)
    axes[1].set_title('PointDistiller loss (loss_pd_*)', fontsize=9)
    axes[2].set_title('val ' + metric.split('/')[-1], fontsize=9)
    for ax in axes:
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    Path(out_png).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out_png)
    plt.close(fig)
    return str(out_png)
