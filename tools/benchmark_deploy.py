#!/usr/bin/env python
"""Deployment benchmark: ONNX Runtime vs PyTorch eager, teacher / 4x / 16x PointPillars,
full KITTI grid and simulated grid, and the sim pillar CenterPoint 16x student, with the
parity of every exported model (harness: ``mmdet3d_pointdistiller.bench.deploy``).

For each model ``<teacher|4x|16x>_<kitti|sim>``, ``cp-16x_sim`` (configs:
``mmdet3d_pointdistiller.deploy.models``):

1. a random checkpoint (``save_random_detector``: random weights, non-trivial BN statistics,
   a classification layer calibrated so that empty cells score below ``score_thr``; parity
   and latency do not depend on training), exported by ``export_onnx``;
2. **parity** on its frames — the real KITTI frame ``tests/data/kitti_real/000008`` for
   ``*_kitti``, the 20 val frames of a simulated dataset for ``*_sim`` — raw head outputs
   (max absolute difference) and final boxes (count, matched 3-D IoU > 0.99, score
   difference < 1e-4);
3. **latency** per frame, one thread for both runtimes (``torch.set_num_threads(1)``, ORT
   ``intra_op_num_threads=1``): end to end (mmdet3d voxelisation + network + mmdet3d
   ``predict_by_feat``) for PyTorch eager (``torch_ms``) and ONNX Runtime (``ort_ms``), and
   the network alone (``torch_net_ms``, ``ort_net_ms``). Medians; PyTorch and ORT alternate
   frame by frame so that machine load hits both alike.

Writes ``<out-dir>/deploy.json`` (``models``, ``parity``, ``command``, machine, settings)
and ``deploy.md``::

    python tools/simulate_kitti.py --out data/sim_kitti_deploy --num-train 4 --num-val 20 \
        --workers 1 --no-progress
    python tools/benchmark_deploy.py --sim-root data/sim_kitti_deploy [--repeats 10]
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.bench.deploy import run
from mmdet3d_pointdistiller.deploy.models import MODEL_NAMES

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = REPO / 'tests' / 'data' / 'kitti_real'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--sim-root', default=str(REPO / 'data/sim_kitti_deploy'),
                   help='simulated KITTI-format dataset (its ImageSets/val.txt frames)')
    p.add_argument('--num-sim-frames', type=int, default=20)
    p.add_argument('--kitti-frame', default=str(KITTI_REAL / '000008.bin'))
    p.add_argument('--repeats', type=int, default=10,
                   help='timed runs of the KITTI frame per runtime (sim: each frame once)')
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--models', nargs='*', default=list(MODEL_NAMES), choices=MODEL_NAMES)
    p.add_argument('--work-dir', default=str(REPO / 'work_dirs/deploy_benchmark'),
                   help='checkpoints and .onnx files')
    p.add_argument('--out-dir', default=str(REPO / 'benchmarks'))
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    command = 'python ' + ' '.join(shlex.quote(a) for a in [
        'tools/benchmark_deploy.py', *(argv if argv is not None else sys.argv[1:])])
    run(args, command)
    return 0


if __name__ == '__main__':
    sys.exit(main())
