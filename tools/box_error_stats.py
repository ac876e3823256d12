#!/usr/bin/env python
"""Box error statistics of a checkpoint on the simulated val split: per class, the errors of
matched boxes (x, y, z, l, w, h, yaw), slopes of predicted vs ground-truth size and height,
the 3D IoU histogram and the fraction at IoU >= 0.7 with the ground-truth z and h swapped in
(mmdet3d_pointdistiller/experiments/box_errors.py).

    python tools/box_error_stats.py \
        configs/sim/pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py \
        checkpoints/sim/<teacher>_fp16.pth --frames 100 [--out stats.json]
"""
from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdet3d_pointdistiller.apis import (gt_from_info, load_detector, load_frame,  # noqa: E402
                                         predict_frame)
from mmdet3d_pointdistiller.experiments.box_errors import error_statistics  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--data-root', default='data/sim_kitti')
    p.add_argument('--frames', type=int, default=100, help='first N val frames')
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='write the statistics as JSON')
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = Path(args.data_root)
    info = root / 'kitti_infos_val.pkl'
    if not info.is_file():
        raise SystemExit(f'{info} not found: simulate the dataset first (configs/sim/README.md)')
    with open(info, 'rb') as f:
        ids = [int(fr['sample_idx']) for fr in pickle.load(f)['data_list'][:args.frames]]
    model, cfg = load_detector(args.config, args.checkpoint)
    classes = model.dataset_meta['classes']
    gts = {c: [] for c in classes}
    preds = {c: [] for c in classes}
    for k, idx in enumerate(ids):
        pred = predict_frame(model, load_frame(cfg, str(
            root / 'training' / 'velodyne_reduced' / f'{idx:06d}.bin')))
        gt_boxes, gt_names = gt_from_info(str(info), idx)
        keep = pred['scores'] >= args.score_thr
        for ci, c in enumerate(classes):
            gts[c].append(np.asarray([b for b, n in zip(gt_boxes, gt_names) if n == c],
                                     dtype=np.float64).reshape(-1, 7))
            preds[c].append(pred['boxes'][keep & (pred['labels'] == ci)].astype(np.float64))
        if (k + 1) % 20 == 0:
            print(f'[box errors] {k + 1}/{len(ids)} frames', flush=True)
    stats = {c: error_statistics(gts[c], preds[c]) for c in classes}
    for c, s in stats.items():
        if s is None:
            print(f'{c}: no matched box')
            continue
        print(f"{c}: {s['matched']}/{s['gt']} GT boxes matched; error mean (std) "
              + ', '.join(f"{n} {s['error_mean'][n]:+.3f} ({s['error_std'][n]:.3f})"
                          for n in s['error_mean'])
              + '; slopes ' + ', '.join(f'{n} {v:.2f}' for n, v in s['slope_pred_vs_gt'].items())
              + f"; 3D IoU mean {s['iou3d_mean']:.3f}, >= 0.7: {s['frac_iou3d_ge_0.7']:.2f}, "
                f"with GT z and h: {s['frac_iou3d_ge_0.7_gt_z_h']:.2f}; IoU histogram "
              + str(dict(zip(s['iou3d_hist']['bins'], s['iou3d_hist']['counts']))))
    if args.out:
        Path(args.out).write_text(json.dumps(dict(config=args.config, checkpoint=args.checkpoint,
                                                  frames=len(ids), score_thr=args.score_thr,
                                                  stats=stats), indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
