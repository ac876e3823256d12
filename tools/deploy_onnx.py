#!/usr/bin/env python
"""Export a PointPillars-family detector (teacher or distilled student) to ONNX and check it.

Usage::

    python tools/deploy_onnx.py CONFIG CHECKPOINT OUT.onnx [--verify POINTS.bin ...]

CONFIG is a detector config (``configs/pointpillars/...``, ``configs/sim/...``,
``mmdet3d::pointpillars/...``) or a PointDistiller config, whose student is exported;
CHECKPOINT a plain detector checkpoint, a ``tools/export_student.py`` output, or a
PointDistiller training checkpoint (its ``student.*`` weights). The graph holds the pillar
encoder, the scatter, the backbone, the neck and the head's convolutions; voxelisation and
post-processing (mmdet3d's ``predict_by_feat``) stay outside, in
``mmdet3d_pointdistiller.deploy.OnnxPointPillars``, which needs only the ``.onnx`` file::

    from mmdet3d_pointdistiller.deploy import OnnxPointPillars
    detector = OnnxPointPillars('student.onnx')
    result = detector.predict(points)  # (N, 4) float32 tensor -> bboxes_3d, scores_3d, labels_3d

``--verify`` runs PyTorch and ONNX Runtime on each given KITTI-format ``.bin`` (x, y, z,
intensity float32) and fails (exit 1) unless the raw head outputs agree within ``--atol`` and
the final boxes are the same set (count, matched 3-D IoU > 0.99, score difference < 1e-4).
SECOND and PointRCNN are refused with the reason (exit 2).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import mmdet3d_pointdistiller  # noqa: F401,E402  registers modules, activates shims
from mmdet3d_pointdistiller.deploy import (OnnxPointPillars, TorchPointPillars,  # noqa: E402
                                           UnsupportedModelError, build_detector,
                                           check_exportable, compare_predictions,
                                           export_onnx, max_abs_diff)
from mmdet3d_pointdistiller.deploy.models import load_config  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='detector or PointDistiller config (file or mmdet3d::path)')
    p.add_argument('checkpoint', help="checkpoint ('none': keep the initialisation)")
    p.add_argument('out', help='ONNX file to write')
    p.add_argument('--verify', nargs='*', default=[], metavar='POINTS.bin',
                   help='point clouds (float32 x, y, z, intensity) to check parity on')
    p.add_argument('--atol', type=float, default=1e-4,
                   help='largest allowed absolute difference of the raw head outputs')
    p.add_argument('--score-thr', type=float, default=None,
                   help='override test_cfg.score_thr (in the exported config too)')
    p.add_argument('--threads', type=int, default=1, help='torch and ORT threads')
    return p.parse_args(argv)


def load_points(path: str, num_features: int = 4) -> torch.Tensor:
    """A KITTI velodyne ``.bin`` as an (N, num_features) float32 tensor."""
    return torch.from_numpy(np.fromfile(path, dtype=np.float32).reshape(-1, num_features))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    try:
        model_cfg = check_exportable(cfg)
    except UnsupportedModelError as exc:
        print(f'deploy_onnx: {exc}', file=sys.stderr)
        return 2
    if args.score_thr is not None:
        model_cfg.test_cfg.score_thr = args.score_thr
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    detector = build_detector(dict(model=model_cfg), ckpt)
    in_dim = model_cfg.voxel_encoder.get('in_channels', 4)
    example = (load_points(args.verify[0], in_dim) if args.verify else
               _synthetic_points(model_cfg.data_preprocessor.voxel_layer.point_cloud_range,
                                 in_dim))
    t0 = time.perf_counter()
    out = export_onnx(detector, model_cfg, args.out, example,
                      extra_metadata={'pointdistiller.config_file': str(args.config),
                                      'pointdistiller.checkpoint': str(args.checkpoint)})
    print(f'wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s')
    if not args.verify:
        return 0
    ref = TorchPointPillars(detector, model_cfg)
    ort_model = OnnxPointPillars(out, threads=args.threads)
    ok = True
    for path in args.verify:
        points = load_points(path, in_dim)
        voxels = ref.voxelise(points)
        diff = max_abs_diff(ref.run_net(voxels), ort_model.run_net(voxels))
        boxes = compare_predictions(ref.predict(points), ort_model.predict(points))
        good = diff['max_abs_diff'] <= args.atol and boxes['boxes_equal']
        ok &= good
        print(json.dumps(dict(points=path, ok=good, **diff, **boxes)))
    return 0 if ok else 1


def _synthetic_points(pcr, in_dim: int, n: int = 20000, seed: int = 0) -> torch.Tensor:
    """Uniform points inside the point-cloud range, only to trace the graph (the pillar
    count is a dynamic axis, so the values do not shape the export)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(pcr[:3]), np.asarray(pcr[3:])
    xyz = rng.uniform(lo, hi, size=(n, 3))
    rest = rng.uniform(0, 1, size=(n, in_dim - 3))
    return torch.from_numpy(np.concatenate([xyz, rest], 1).astype(np.float32))


if __name__ == '__main__':
    sys.exit(main())
