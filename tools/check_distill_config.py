#!/usr/bin/env python
"""One distillation training step on one KITTI-format frame: run it on a new distillation
config before ``mim train`` (builds the model as training does, loads and freezes the teacher,
checks the taps, takes one optimizer step, reports every loss term, which student modules the
KD gradient reaches, and that the teacher stayed unchanged).

    python tools/check_distill_config.py \
        docs/examples/pointdistiller_my-pointpillars-2x_kitti-3d-3class.py --random-teacher

Module: ``mmdet3d_pointdistiller.apis.check_config``.
"""
import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mmdet3d_pointdistiller.apis import check_distill_config, format_report  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the distillation config')
    p.add_argument('--frame-dir', default=str(REPO / 'tests' / 'data' / 'kitti_real'),
                   help='folder with a KITTI-format info .pkl and its point cloud (default: the '
                        'shipped KITTI frame 000008)')
    p.add_argument('--ann-file', default='000008.pkl', help='info file in --frame-dir')
    p.add_argument('--random-teacher', action='store_true',
                   help='a random teacher of the configured architecture instead of '
                        'model.teacher_ckpt (structure check without the weights)')
    p.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                   help='overrides, as mim train --cfg-options')
    args = p.parse_args(argv)
    if not Path(args.config).is_file():
        raise SystemExit(f'config {args.config} not found')
    try:
        res = check_distill_config(args.config, args.frame_dir, args.random_teacher,
                                   args.cfg_options, ann_file=args.ann_file)
    except (ValueError, KeyError, FileNotFoundError) as e:
        raise SystemExit(f'check failed: {e}')
    print(format_report(args.config, res, f'{args.frame_dir}/{args.ann_file}'))
    return 0 if res['teacher_unchanged'] and res['student_changed'] else 1


if __name__ == '__main__':
    sys.exit(main())
