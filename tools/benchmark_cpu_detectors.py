#!/usr/bin/env python
"""Measure CPU train-step and predict times of the stock mmdet3d detectors, and the CPU point ops.

Each stock KITTI 3-class config (PointPillars, SECOND, PointRCNN) is built as is; one real KITTI
frame (``tests/data/kitti_real/000008``) goes through mmdet3d's ``KittiDataset`` and the model's
``data_preprocessor`` (PointRCNN: 16384 sampled points, as in its stock pipeline). Timed:

* train step: ``loss`` + ``backward`` + ``optimizer.step`` (SGD, the timing is what matters) on a
  batch of ``--batch`` copies of the frame;
* predict: ``predict`` of one frame under ``no_grad``;
* point ops (PointRCNN sizes): each CPU kernel of ``mmdet3d_pointdistiller.ops`` (what
  ``compat/point_ops_cpu.py`` dispatches CPU tensors to) on the frame's points.

Median of ``--repeats`` after one warm-up. Writes ``benchmarks/cpu_detectors.md`` and ``.json``.

    python tools/benchmark_cpu_detectors.py [--threads 2] [--repeats 3] [--batch 2]
"""
import argparse
import sys
from pathlib import Path
from typing import Dict, List

from mmdet3d_pointdistiller.bench.cpu_detectors import CONFIGS, DEFAULT_FRAME, run

ROOT = Path(__file__).resolve().parents[1]


def main(argv: List[str] = None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frame-dir', type=Path, default=DEFAULT_FRAME)
    parser.add_argument('--detectors', nargs='+', default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out-dir', type=Path, default=ROOT / 'benchmarks')
    args = parser.parse_args(argv)
    command = 'python tools/benchmark_cpu_detectors.py ' + ' '.join(
        argv if argv is not None else sys.argv[1:])
    return run(args, command)


if __name__ == '__main__':
    main()
