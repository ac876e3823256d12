"""KITTI metric keys (mmdet3d 1.4 ``KittiMetric``) and the paper-style result table.

``KittiMetric`` logs e.g. ``Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict``
(``strict`` = the official IoU thresholds 0.7 / 0.5 / 0.5 for Car / Pedestrian / Cyclist) and
``.../Overall_3D_AP40_moderate`` (the mean over the three classes).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

from mmdet3d_pointdistiller.utils.kitti_classes import REPORT_ORDER
from mmdet3d_pointdistiller.utils.scalars import read_scalars

__all__ = ['PREFIX', 'CLASSES', 'DIFFICULTIES', 'metric_key', 'extract_ap40', 'moderate_map',
           'moderate_summary', 'final_val_metrics', 'val_curve', 'format_table']

PREFIX = 'Kitti metric/pred_instances_3d/KITTI/'
CLASSES = REPORT_ORDER  # per-class columns in the paper's order
DIFFICULTIES = ('easy', 'moderate', 'hard')
VIEWS = ('BEV', '3D')


def metric_key(cls: str, view: str, difficulty: str) -> str:
    """Key of one AP40 value (official 'strict' IoU thresholds)."""
    return f'{PREFIX}{cls}_{view}_AP40_{difficulty}_strict'


def extract_ap40(metrics: Dict[str, float]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{view: {class: {difficulty: AP40}}}`` for BEV and 3D from a KittiMetric result.

    Raises:
        KeyError: naming the first missing key.
    """
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for view in VIEWS:
        out[view] = {}
        for cls in CLASSES:
            out[view][cls] = {}
            for diff in DIFFICULTIES:
                key = metric_key(cls, view, diff)
                if key not in metrics:
                    raise KeyError(f'KittiMetric result lacks {key!r} (has {len(metrics)} keys)')
                out[view][cls][diff] = float(metrics[key])
    return out


def moderate_map(ap: Dict[str, Dict[str, Dict[str, float]]], view: str) -> float:
    """Mean over Car / Pedestrian / Cyclist of the moderate AP40 (the paper's 'mAP')."""
    return sum(ap[view][c]['moderate'] for c in CLASSES) / len(CLASSES)


def moderate_summary(ap: Dict[str, Dict[str, Dict[str, float]]]) -> Dict[str, float]:
    """``{map_3d, map_bev, car_3d_moderate, car_bev_moderate}`` of an :func:`extract_ap40`
    table: the moderate 3-class mAPs and Car's moderate AP, 3D and BEV."""
    return dict(map_3d=moderate_map(ap, '3D'), map_bev=moderate_map(ap, 'BEV'),
                car_3d_moderate=ap['3D']['Car']['moderate'],
                car_bev_moderate=ap['BEV']['Car']['moderate'])


def final_val_metrics(work_dir: str, step: Optional[int] = None) -> Dict[str, float]:
    """The KittiMetric values of the last validation (at ``step`` if given) of a training run.

    Reads ``<work_dir>/*/vis_data/scalars.json`` (all timestamps: a resumed run starts a new
    one).

    Raises:
        FileNotFoundError / LookupError: with the work dir and the steps that were found.
    """
    found = [r for r in read_scalars(work_dir) if any(k.startswith(PREFIX) for k in r)]
    if step is not None:
        found = [r for r in found if r.get('step') == step]
    if not found:
        raise LookupError('no KittiMetric validation record'
                          + (f' at step {step}' if step is not None else '')
                          + f' in {work_dir}/*/vis_data/scalars.json')
    return found[-1]


def val_curve(work_dir: str) -> List[Dict[str, float]]:
    """Every validation of a training run, in step order: ``[{iter, map_3d, map_bev,
    car_3d_moderate, car_bev_moderate}, ...]`` (moderate AP40, official IoU).

    A step validated twice (a run resumed from a checkpoint before that step's validation
    was logged again) keeps its last record, as :func:`final_val_metrics` does. Empty when
    the run has no validation yet.

    Raises:
        FileNotFoundError: naming the work dir, if it has no ``scalars.json``.
    """
    by_step: Dict[int, Dict[str, float]] = {}
    for r in read_scalars(work_dir):
        if any(k.startswith(PREFIX) for k in r) and 'step' in r:
            by_step[int(r['step'])] = r
    return [dict(iter=step, **moderate_summary(extract_ap40(by_step[step])))
            for step in sorted(by_step)]


def _fmt(v: Optional[float], digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return '–'
    return f'{v:.{digits}f}'


def format_table(rows: Sequence[dict], view: str) -> str:
    """Markdown table in the layout of the paper's Tables 1 (BEV) and 2 (3D).

    Args:
        rows: dicts with ``name``, ``kd`` (bool), ``gflops``, ``params_m``, ``latency_ms``
            and ``ap`` (:func:`extract_ap40` output).
        view: ``'BEV'`` or ``'3D'``.
    """
    head = ['Model', 'GFLOPs', 'Params (M)', 'CPU ms/frame', 'KD']
    head += [f'{c[:3]} {d[0].upper()}' for c in CLASSES for d in DIFFICULTIES] + ['mAP (mod.)']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        ap = r['ap']
        cells = [r['name'], _fmt(r.get('gflops')), _fmt(r.get('params_m'), 2),
                 _fmt(r.get('latency_ms'), 0), '✓' if r.get('kd') else '×']
        cells += [_fmt(ap[view][c][d]) for c in CLASSES for d in DIFFICULTIES]
        cells.append(_fmt(moderate_map(ap, view), 2))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
