#!/usr/bin/env python
"""Measure what a distillation checkpoint's adapters output, per tap: variance, live fraction
and effective dimensions of the teacher- and student-side outputs, and the KD term (a collapse
diagnosed after the fact).

    PD_SIM_KITTI=data/sim_kitti/ python tools/measure_adapters.py CONFIG CHECKPOINT [--batches 3]

Module: ``mmdet3d_pointdistiller.apis.adapter_stats``.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmdet3d_pointdistiller.apis import measure_adapter_outputs  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the distillation config the checkpoint was trained with')
    p.add_argument('checkpoint', help='a training checkpoint of PointDistillerDetector')
    p.add_argument('--batches', type=int, default=3, help='training batches to average over')
    p.add_argument('--frame-dir', default=None,
                   help='one KITTI-format frame folder instead of the config\'s train loader')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    args = p.parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not Path(path).is_file():
            raise SystemExit(f'{path} not found')
    if args.batches < 1:
        raise SystemExit('--batches must be >= 1')
    res = measure_adapter_outputs(args.config, args.checkpoint, args.batches, args.frame_dir,
                                  args.cfg_options)
    print(f'{args.checkpoint} ({args.batches} training batches):')
    for tap, stats in res.items():
        print(f'  {tap}: ' + ', '.join(f'{k} {v:.4g}' for k, v in sorted(stats.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
