#!/usr/bin/env python
"""Paired-seed distillation gain on the simulated KITTI-format dataset (one student ratio per
invocation), with the shipped sim model-zoo teacher.

For every seed and every method config, one ``mim train mmdet3d <config>`` run with the same
budget; for a given seed all runs start from the same student weights and data order
(``PointDistillerDetector`` keeps the RNG stream of the student-only run). The record
``benchmarks/kd_gain_sim.{md,json}`` gets, per ratio, every run's KittiMetric AP40, the
paired gain of each method over the student-only run with a Student-t 95 % confidence
interval, the fraction of the teacher-student gap closed and KD diagnostics
(layout: ``mmdet3d_pointdistiller/experiments/kd_gain.py``; the harness:
``mmdet3d_pointdistiller/experiments/kd_gain_runs.py``).

    python tools/benchmark_kd_gain.py --ratio 16x --seeds 1 2 3 4 5 \
        --methods student=configs/sim/pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py \
                  pointdistiller=configs/sim/pointdistiller_pointpillars-16x_<...>.py
    python tools/benchmark_kd_gain.py --ratio 4x --seeds 1 2 3     # default methods of 4x
    python tools/benchmark_kd_gain.py ... --seeds 1 2 3 4 5 --until-half-width 2.0 --max-seeds 10
                                        # + the protocol's seed extension (seed_extension.py)

Outputs: ``<out>.json`` (per-run values and statistics), ``<out>.md`` (report),
``<out>_gains.png`` (per-seed paired gains, mean and 95 % CI per method) and ``<out>.png``
(KD loss curves).

Interruptions lose little: runs are trained ``--jobs`` at a time in seed order (the runs of
one seed together; a slot takes the next run as soon as one ends), the record is rewritten
after every finished run with what is finished (and says what is missing), finished runs are
reused from their work dirs, and runs already in the record (same resolved config and options,
by a path-independent hash) are reused even when their work dirs are gone (another machine).
``--force`` retrains. With ``--evals N`` (N > 1) every run validates and checkpoints N times:
the record keeps each run's learning curve (``<out>_curves.png``) and an interrupted run
resumes from its last checkpoint instead of starting over (long budgets).
"""
from __future__ import annotations

import argparse
import shlex
import sys
from typing import List, Optional

from mmdet3d_pointdistiller.experiments.kd_gain_runs import (NUM_TRAIN, NUM_VAL, TITLE,
                                                             ZOO_RECORD, compare, hashes, render,
                                                             run_extended)


def main(argv: Optional[List[str]] = None) -> int:
    args_list = sys.argv[1:] if argv is None else list(argv)
    if args_list[:1] == ['--compare']:
        c = argparse.ArgumentParser(prog='benchmark_kd_gain.py --compare',
                                    description='paired difference B - A of one method in two '
                                                'records (e.g. one KD config with two teachers)')
        c.add_argument('records', nargs=2, metavar='RECORD.json')
        c.add_argument('--ratio', required=True)
        c.add_argument('--method', default='pointdistiller')
        cargs = c.parse_args(args_list[1:])
        return compare(cargs.records, cargs.ratio, cargs.method)
    if args_list[:1] == ['--hashes']:
        return hashes(args_list[1:])
    if args_list[:1] == ['--render']:
        if len(args_list) != 2:
            raise SystemExit('usage: benchmark_kd_gain.py --render RECORD.json')
        return render(args_list[1])
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                epilog='benchmark_kd_gain.py --render RECORD.json recomputes '
                                       'the statistics of a record and re-renders its .md/.png '
                                       'without training; benchmark_kd_gain.py --compare A.json '
                                       'B.json --ratio R --method M prints the paired difference '
                                       'B - A of one method in two records; '
                                       'benchmark_kd_gain.py --hashes name=config ... prints '
                                       'the resolved-config SHA-1 of each (protocol tables)')
    p.add_argument('--ratio', required=True, help='label of the student ratio, e.g. 16x')
    p.add_argument('--methods', nargs='+', help='name=config pairs (default: student and '
                                                'pointdistiller of --ratio)')
    p.add_argument('--seeds', type=int, nargs='+', required=True)
    p.add_argument('--iters', type=int, default=1500,
                   help='iterations of every run (the committed record: %(default)s)')
    p.add_argument('--evals', type=int, default=1,
                   help='validations (and checkpoints) per run, evenly spaced, the last at '
                        '--iters; > 1 records each run\'s learning curve and lets an '
                        'interrupted run resume from its last checkpoint (default: '
                        '%(default)s, the final one only)')
    p.add_argument('--batch-size', type=int, default=2)
    p.add_argument('--teacher-record', default=ZOO_RECORD,
                   help='zoo record (JSON) of the shared teacher')
    p.add_argument('--data-root', default='data/sim_kitti')
    p.add_argument('--num-train', type=int, default=NUM_TRAIN,
                   help='train frames of the dataset (the zoo teacher\'s: %(default)s)')
    p.add_argument('--num-val', type=int, default=NUM_VAL,
                   help='val frames of the dataset (the zoo teacher\'s: %(default)s)')
    p.add_argument('--work-dir', default='work_dirs/kd_gain_v2')
    p.add_argument('--threads', type=int, default=1, help='torch threads per run')
    p.add_argument('--jobs', type=int, default=2, help='runs at the same time')
    p.add_argument('--out', default='benchmarks/kd_gain_sim', help='<out>.md and <out>.json')
    p.add_argument('--force', action='store_true', help='retrain finished and recorded runs')
    p.add_argument('--note', default=None, help='free text at the end of the report')
    p.add_argument('--protocol', default=None,
                   help='pre-registered protocol (benchmarks/protocols/<record>.md), committed '
                        'before the runs start: the record stores its file and commit and is '
                        'labelled confirmatory only if every run started after that commit')
    p.add_argument('--until-half-width', type=float, default=None, metavar='H',
                   help='the protocol\'s seed extension: while the headline arm\'s 95 %% '
                        'half-width exceeds H, add the seeds certain to run '
                        '(experiments/seed_extension.py)')
    p.add_argument('--max-seeds', type=int, default=10,
                   help='with --until-half-width: the most seeds (default: %(default)s)')
    p.add_argument('--title', default=None,
                   help='heading of the report (default: the record\'s, else "%s")' % TITLE)
    args = p.parse_args(argv)
    command = ' '.join(['python tools/benchmark_kd_gain.py'] + [shlex.quote(a) for a in (
        sys.argv[1:] if argv is None else argv)])
    return run_extended(args, command)


if __name__ == '__main__':
    sys.exit(main())
