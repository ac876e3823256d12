#!/usr/bin/env python
"""Put measured KITTI results next to the PointDistiller paper's Table 1, 2, 3 or 5.

Each ``--runs KEY=PATH`` names a row of the paper's table (``KEY``, e.g. ``fitnets`` or
``pointpillars-4x_pointdistiller``; ``--list-rows`` prints them) and where its evaluation
results are:

* a work dir of ``mim train`` / ``mim test`` (searched recursively): the JSON that
  ``mim test`` (mmengine's ``LoggerHook.after_test_epoch``) writes to
  ``<work_dir>/<timestamp>/<timestamp>.json`` is preferred; otherwise the validation records
  in ``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON object per line) are used;
* or one of those JSON files directly.

``KittiMetric`` (mmdet3d 1.4.0) logs AP40 values (percent) under keys like
``Kitti metric/pred_instances_3d/KITTI/Car_3D_AP40_moderate_strict``; ``_strict`` is the
official IoU (0.7 Car, 0.5 Pedestrian/Cyclist), the paper's protocol. The moderate mAP is the
mean of the three classes' moderate APs (as the paper's ``mAP`` column). Among several
records of a run, ``--select last`` (default) takes the newest timestamp directory and its
last record, ``--select best`` the record with the highest moderate mAP (3D, else BEV).

Output: a markdown table per task (BEV, 3D) with three lines per row -- measured, paper and
the difference measured - paper -- plus a CSV in long format (one line per cell, with
``measured``, ``paper`` and ``diff`` columns).

Usage::

    python tools/reproduce_table.py --table 3 \
        --runs student=work_dirs/pp4x fitnets=work_dirs/fitnets pointdistiller=work_dirs/pd \
        --out results/table3        # writes results/table3.md and results/table3.csv

``--record`` instead reads a paired-seed KD-gain record (``benchmarks/kd_methods_sim.json``)
and prints every method's measured paired gain beside the paper's ordering of Tables 3 and 5
(ranks, Kendall's tau-b; ``mmdet3d_pointdistiller/experiments/paper_ordering.py``)::

    python tools/reproduce_table.py --record benchmarks/kd_methods_sim.json --ratio 16x \
        --out benchmarks/kd_methods_sim_ordering      # writes the .md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from mmdet3d_pointdistiller.bench.paper_table import (ResultError, build_rows, load_runs,
                                                      print_ordering, row_listing, to_csv,
                                                      to_markdown)
from mmdet3d_pointdistiller.paper_results import TABLES


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--table', type=int, choices=sorted(TABLES))
    parser.add_argument('--record', help='a paired-seed KD-gain record (JSON): print its gains '
                        "beside the paper's ordering of Tables 3 and 5 instead")
    parser.add_argument('--ratio', default='16x', help='student ratio entry of --record')
    parser.add_argument('--runs', nargs='*', default=[], metavar='KEY=PATH',
                        help='row key of the paper table = work dir or results JSON')
    parser.add_argument('--out', help='output prefix: writes <out>.md and <out>.csv')
    parser.add_argument('--select', choices=('last', 'best'), default='last')
    parser.add_argument('--metric-prefix', default=None,
                        help='KittiMetric key prefix when a record holds several, e.g. '
                             '"Kitti metric/pred_instances_3d"')
    parser.add_argument('--digits', type=int, default=2, help='decimals of measured values')
    parser.add_argument('--list-rows', action='store_true', help='print the row keys and exit')
    args = parser.parse_args(argv)
    if (args.table is None) == (args.record is None):
        parser.error('give exactly one of --table or --record')
    if args.record:
        return print_ordering(args.record, args.ratio, args.out)
    if args.list_rows:
        print(row_listing(args.table))
        return 0
    try:
        runs = load_runs(args.table, args.runs, args.select, args.metric_prefix)
    except ResultError as exc:
        print(f'reproduce_table: error: {exc}', file=sys.stderr)
        return 2
    cells = build_rows(args.table, runs)
    markdown = to_markdown(args.table, cells, runs, args.digits)
    print(markdown)
    if args.out:
        out = Path(args.out)
        if out.suffix in ('.md', '.csv'):
            out = out.with_suffix('')
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix('.md').write_text(markdown)
        out.with_suffix('.csv').write_text(to_csv(cells))
        print(f'wrote {out.with_suffix(".md")} and {out.with_suffix(".csv")}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
