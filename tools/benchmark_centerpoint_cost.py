#!/usr/bin/env python
"""Size and CPU training cost of the CenterPoint family next to the sim PointPillars configs.

Parameters, GFLOPs per frame and seconds per training iteration (ratios to the sim
PointPillars 16x student in the same run) of the sim CenterPoint teacher, students and
distillation configs; the harness is :mod:`mmdet3d_pointdistiller.bench.centerpoint_cost`.
Writes ``OUT.json`` (every timed iteration) and ``OUT.md``.

    python tools/benchmark_centerpoint_cost.py [--out benchmarks/centerpoint_cost]
        [--iters 5] [--rounds 3] [--threads 1] [--kitti-dir tests/data/kitti_real]
"""
import argparse
import shlex
import sys
from pathlib import Path

import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d_pointdistiller.bench.centerpoint_cost import run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', type=Path, default=Path('benchmarks/centerpoint_cost'),
                        help='record path without suffix (.json and .md are written)')
    parser.add_argument('--iters', type=int, default=5, help='timed iterations per round')
    parser.add_argument('--rounds', type=int, default=3, help='rounds over all configs')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads')
    parser.add_argument('--kitti-dir', type=Path, default=Path('tests/data/kitti_real'),
                        help='folder of the real KITTI frame 000008 (.bin + mmdet3d info)')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = 'python tools/benchmark_centerpoint_cost.py ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    for path in run(args.out, args.kitti_dir, args.iters, args.rounds, command.strip()):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
