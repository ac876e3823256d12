#!/usr/bin/env python
"""Train, evaluate and ship the simulated-dataset model zoo's teacher.

    python tools/train_sim_zoo.py teacher            # stage 1: train (or reuse / resume), ship
    python tools/train_sim_zoo.py teacher-ft         # stage 2 from stage 1's final weights (the
                                                     # distillation teacher; trains stage 1 first
                                                     # when it is missing)

1. the dataset ``data/sim_kitti`` (1500 train / 300 val frames, simulator seed 0);
2. ``mim train mmdet3d <the model's config>`` (stage 1:
   ``configs/sim/pointpillars_hv_secfpn_1xb4-3000it-cpu_sim-kitti-3d-3class.py``; a later stage
   with ``load_from`` = the earlier stage's last checkpoint) with ``--threads`` torch threads
   (reused when its last checkpoint exists, resumed from ``last_checkpoint`` when interrupted);
3. the final weights stored as fp16 in ``checkpoints/sim/<name>_fp16.pth`` (the file the sim
   distillation configs use as ``teacher_ckpt``), evaluated with ``Runner.test`` (the path of
   ``mim test``) on the full val split, compared with the float32 weights frame by frame,
   timed, counted (params, GFLOPs), and checked on a few re-simulated val frames;
4. the record ``checkpoints/sim/<name>.json`` (learning curve included) and the model-zoo
   table ``configs/sim/README.md`` (every shipped record; one learning curve over the stages).

``--ship-only`` skips training (the run must be finished).

    python tools/train_sim_zoo.py student-16x        # ship a converged student (also
                                                     # pointdistiller-16x, student-4x, ...)

ships seed 1 of that method's run in the reporting record (``--record``, default
``benchmarks/kd_gain_sim.json``) without training: the student part of the checkpoint as fp16,
measured like the teacher, its record and the zoo README (``experiments/sim_zoo_students.py``).
"""
from __future__ import annotations

import argparse
import sys

from mmdet3d_pointdistiller.experiments.sim_zoo import MODELS, run
from mmdet3d_pointdistiller.experiments.sim_zoo_readme import write_readme
from mmdet3d_pointdistiller.experiments.sim_zoo_students import (STUDENTS, ShipError,
                                                                 ship_student)
from mmdet3d_pointdistiller.quickstart.settings import KD_GAIN_RECORD


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('model', choices=sorted(MODELS) + sorted(STUDENTS))
    p.add_argument('--work-dir', default=None, help='default: work_dirs/sim_zoo/<model>')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--force', action='store_true', help='retrain even if finished')
    p.add_argument('--ship-only', action='store_true', help='do not train')
    p.add_argument('--readme-only', action='store_true',
                   help='rewrite configs/sim/README.md from the committed record (and fill a '
                        'missing training wall time from the run\'s logs)')
    p.add_argument('--curve-only', action='store_true',
                   help='only evaluate the checkpoints kept so far (precise BN), e.g. while '
                        'the run still trains')
    p.add_argument('--train-wall-s', type=float, default=None,
                   help='training wall time to record when it ran elsewhere (e.g. resumed)')
    p.add_argument('--record', default=KD_GAIN_RECORD,
                   help='students: the paired-seed record whose seed-1 run is shipped')
    args = p.parse_args(argv)
    if args.model in STUDENTS:
        try:
            ship_student(args.model, args.record, threads=args.threads)
        except ShipError as e:
            p.error(str(e))
        return 0
    rc = run(args)
    if rc == 0 and not args.curve_only:
        write_readme()
        print('[zoo] rewrote configs/sim/README.md from the shipped records', flush=True)
    return rc


if __name__ == '__main__':
    sys.exit(main())
