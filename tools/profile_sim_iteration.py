#!/usr/bin/env python
"""Profile training iterations of a config on the CPU: where does the time go?

    python tools/profile_sim_iteration.py CONFIG [--iters 10] [--threads 1] \
        [--cfg-options model.teacher_ckpt=...] [--out benchmarks/x.md]

Prints a markdown table (data pipeline per transform, voxelisation, teacher forward, student
modules, head loss, KD loss, backward, optimizer step) and optionally appends it to ``--out``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from mmengine.config import Config, DictAction

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mmdet3d_pointdistiller  # noqa: F401,E402  registers modules
from mmdet3d_pointdistiller.utils.iteration_profile import (  # noqa: E402
    format_profile, profile_training_iterations)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--iters', type=int, default=10)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--title', default=None)
    p.add_argument('--out', default=None, help='append the table to this markdown file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    prof = profile_training_iterations(cfg, iters=args.iters, warmup=args.warmup)
    text = format_profile(prof, args.title or Path(args.config).name)
    print(text)
    if args.out:
        with open(args.out, 'a') as f:
            f.write(text + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
