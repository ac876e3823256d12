#!/usr/bin/env python
"""One command from nothing to distilled detectors: the README's first command.

    bash tools/setup_env.sh && .venv/bin/python tools/quickstart.py

Stages (progress with elapsed time and ETA on stdout; a re-run reuses every finished stage):

1. simulate the KITTI-format dataset (``tools/simulate_kitti.py``'s generator) and convert it
   with mmdet3d's own ``create_data kitti`` (reused when ``--data-root`` already holds it);
2. the teacher: the shipped sim model-zoo PointPillars (``checkpoints/sim/``), or with
   ``--train-teacher`` one trained here with the zoo recipe (3000 iterations of batch 4 from
   scratch, then 2000 more from those weights: ``tools/train_sim_zoo.py teacher-ft``);
3. models, on both cores at once: the shipped teacher and the shipped converged 16x students
   (student alone and PointDistiller, ``tools/train_sim_zoo.py student-16x``) tested with
   KittiMetric on the val split (``Runner.test``, the path of ``mim test``), counted (params,
   GFLOPs) and timed (CPU ms/frame), while a live PointDistiller run trains as a demo
   (``mim train mmdet3d configs/sim/pointdistiller_...-16x_...``, not validated);
4. pictures: BEV PNGs per model on val frames (for the demo the pillars its distiller selected,
   coloured by weight) and the demo's loss curves;
5. ``<work-dir>/summary.md`` / ``summary.json``: the paper-layout tables, each model beside its
   zoo record, and the committed paired-seed record's gains with their 95 % intervals.

``--budget full`` (default) is the zoo dataset (the shipped models' val split) and a
300-iteration demo; ``small`` and ``tiny`` are shorter (``tiny`` is the test suite's miniature
run). ``--force`` redoes everything (the dataset is kept unless ``--force-data``).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmdet3d_pointdistiller.quickstart.pipeline import run_quickstart  # noqa: E402
from mmdet3d_pointdistiller.quickstart.settings import BUDGETS  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--budget', default='full', choices=sorted(BUDGETS),
                   help='dataset size and demo iterations (default: full, < 10 min on 2 cores)')
    p.add_argument('--work-dir', default='work_dirs/quickstart')
    p.add_argument('--data-root', default='data/sim_kitti',
                   help='simulated dataset root (created if missing, reused if it matches)')
    p.add_argument('--seed', type=int, default=0, help='training seed (randomness.seed)')
    p.add_argument('--data-seed', type=int, default=0, help='simulator seed')
    p.add_argument('--threads', type=int, default=1,
                   help='torch threads per process (default 1: on a shared 2-core machine one '
                        'thread trained 3x faster than two)')
    p.add_argument('--jobs', type=int, default=2,
                   help='processes at the same time: 2 trains the demo while the shipped '
                        'models are tested (one per core), 1 one after the other')
    p.add_argument('--teacher-iters', type=int, help='override the budget\'s teacher iterations')
    p.add_argument('--student-iters', type=int,
                   help='override the budget\'s iterations of the live PointDistiller demo')
    p.add_argument('--num-train', type=int, help='override the budget\'s train frames')
    p.add_argument('--num-val', type=int, help='override the budget\'s val frames')
    p.add_argument('--score-thr', type=float, default=0.3, help='score threshold of the pictures')
    p.add_argument('--train-teacher', action='store_true',
                   help='train the teacher from scratch (the zoo recipe: 3000 iterations of '
                        'batch 4, then 2000 more in a second cosine cycle; ~100 + ~60 min on '
                        '2 cores) instead of using the shipped one')
    p.add_argument('--force', action='store_true', help='redo every stage except the dataset')
    p.add_argument('--force-data', action='store_true', help='re-simulate the dataset too')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    argv_list = sys.argv[1:] if argv is None else list(argv)
    run_quickstart(budget=args.budget, work_dir=args.work_dir, data_root=args.data_root,
                   seed=args.seed, data_seed=args.data_seed, threads=args.threads,
                   jobs=args.jobs,
                   force=args.force or args.force_data, force_data=args.force_data,
                   teacher_iters=args.teacher_iters, student_iters=args.student_iters,
                   num_train=args.num_train, num_val=args.num_val, score_thr=args.score_thr,
                   train_teacher=args.train_teacher,
                   command=' '.join(['python tools/quickstart.py'] +
                                    [shlex.quote(a) for a in argv_list]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
