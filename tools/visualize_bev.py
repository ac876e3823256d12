#!/usr/bin/env python
"""Bird's-eye view of a detector on one LiDAR frame: points, GT, predictions with scores and,
for a PointDistiller config, the pillars the distiller selects coloured by their weight.

    python tools/visualize_bev.py CONFIG CHECKPOINT POINTS.bin [--info PKL] [--out PNG]
        [--score-thr 0.3] [--sample-idx N] [--cfg-options k=v ...]

Examples::

    # the quickstart's distilled student on a simulated val frame
    python tools/visualize_bev.py \
        configs/sim/pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py \
        work_dirs/quickstart/pointdistiller/iter_300.pth \
        data/sim_kitti/training/velodyne_reduced/000300.bin \
        --info data/sim_kitti/kitti_infos_val.pkl --out bev.png
    # the same model on the real KITTI frame 000008 (6 labelled cars)
    python tools/visualize_bev.py <same config> <same checkpoint> \
        tests/data/kitti_real/000008.bin --info tests/data/kitti_real/000008.pkl

A PointDistiller checkpoint carries its teacher, so ``model.teacher_ckpt`` need not exist.
``POINTS.bin`` is float32 x, y, z, intensity (KITTI velodyne layout).
"""
from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np
import torch
from mmengine.config import DictAction

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmdet3d_pointdistiller.apis import (gt_from_info, load_detector, load_frame,  # noqa: E402
                                         predict_frame)
from mmdet3d_pointdistiller.vis import distiller_selection, render_bev  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description='BEV picture of a detector on one point cloud')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('points', help='.bin point cloud (float32 x, y, z, intensity)')
    p.add_argument('--info', help='mmdet3d KITTI info .pkl with the frame\'s ground truth')
    p.add_argument('--sample-idx', type=int,
                   help='frame of --info (default: the points file\'s number, or the only '
                        'frame of a one-frame info)')
    p.add_argument('--out', help='output PNG (default: <points stem>_bev.png)')
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--threads', type=int, default=1, help='torch threads')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    points_file = Path(args.points)
    if not points_file.is_file():
        raise SystemExit(f'points file {points_file} does not exist')
    model, cfg = load_detector(args.config, args.checkpoint, cfg_options=args.cfg_options)
    classes = model.dataset_meta['classes']
    data = load_frame(cfg, str(points_file))
    pred = predict_frame(model, data)

    gt_boxes, gt_names, sample = None, [], None
    if args.info:
        sample = args.sample_idx
        if sample is None:
            with open(args.info, 'rb') as f:
                num = len(pickle.load(f)['data_list'])
            sample = None if num == 1 else int(points_file.stem)
        gt_boxes, gt_names = gt_from_info(args.info, sample)

    selection, note = None, ''
    if getattr(model, 'distill', False):
        keep = np.array([n in classes for n in gt_names], dtype=bool)
        labels = [classes.index(n) for n in gt_names if n in classes]
        boxes = gt_boxes[keep] if gt_boxes is not None and len(gt_boxes) else None
        sel = distiller_selection(model, data, boxes, labels)
        voxel = [s for s in sel.values() if s['layout'] == 'voxel']
        if voxel:
            selection = voxel[0]
            w = np.asarray(selection['weight'])
            note = f'; {len(w)} pillars selected, weight {w.min():.2f}..{w.max():.2f}'
    out = args.out or f'{points_file.stem}_bev.png'
    render_bev(out, np.fromfile(points_file, dtype=np.float32).reshape(-1, 4),
               gt_boxes=gt_boxes, gt_names=gt_names, pred=pred, class_names=classes,
               score_thr=args.score_thr, selection=selection,
               point_cloud_range=cfg.get('point_cloud_range'),
               title=f'{Path(args.config).stem}\n{points_file.name}{note}')
    kept = int((pred['scores'] >= args.score_thr).sum())
    print(f'wrote {out}: {kept} predictions >= {args.score_thr} (of {len(pred["scores"])}), '
          f'{0 if gt_boxes is None else len(gt_boxes)} ground-truth boxes{note}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
