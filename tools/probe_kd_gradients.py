#!/usr/bin/env python
"""Do a distillation config's KD gradients pull with or against the detection gradients?

For every ``--methods NAME=CONFIG`` and every student state of ``--states`` (``init``: the
freshly initialised student; ``STATE=CKPT``: a plain student checkpoint, e.g. the end of a
student-only run; ``STATE@METHOD=CKPT``: for METHOD only, e.g. the end of its own
distillation run, adapters included), the first ``--batches`` training batches give the
cosine between the detection and the KD gradients on the student parameters that the KD loss
reaches, and their norm ratio (``mmdet3d_pointdistiller/experiments/grad_alignment.py``). Prints and
writes a markdown table with the mean over batches and a Student-t 95 % interval, and the
per-batch values as JSON.

    python tools/probe_kd_gradients.py --seed 101 --batches 8 \
        --methods pointdistiller=configs/sim/pointdistiller_pointpillars-16x_<...>.py \
        --states init trained=work_dirs/kd_gain_1500it/16x/student/seed_101/iter_1500.pth \
            end@pointdistiller=work_dirs/<...>/pointdistiller/seed_101/iter_1500.pth \
        --out benchmarks/kd_grad_probe
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

from mmdet3d_pointdistiller.experiments.grad_alignment import render_probe, run_probe


def _pairs(items: Sequence[str], flag: str, bare_ok: Sequence[str] = ()) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for item in items:
        if item in bare_ok:
            out[item] = item
            continue
        if '=' not in item or not item.split('=', 1)[0] or not item.split('=', 1)[1]:
            raise SystemExit(f'{flag} expects NAME=PATH, got {item!r}')
        name, path = item.split('=', 1)
        if not Path(path).is_file():
            raise SystemExit(f'{flag} {name}: {path} does not exist')
        out[name] = path
    return out


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--methods', nargs='+', required=True, metavar='NAME=CONFIG')
    p.add_argument('--states', nargs='+', default=['init'], metavar='init|NAME=CKPT')
    p.add_argument('--batches', type=int, default=8)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=None, help='writes <out>.md and <out>.json')
    args = p.parse_args(argv)
    methods = _pairs(args.methods, '--methods')
    states = _pairs(args.states, '--states', bare_ok=('init', ))
    if args.batches < 1:
        raise SystemExit('--batches must be at least 1')
    torch.set_num_threads(args.threads)
    command = 'python tools/probe_kd_gradients.py ' + shlex.join(
        sys.argv[1:] if argv is None else list(argv))
    try:
        rec = run_probe(methods, states, args.batches, args.seed, args.threads, command)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    text = render_probe(rec)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix('.json').write_text(json.dumps(rec, indent=1))
        out.with_suffix('.md').write_text(text)
        print(f'wrote {out.with_suffix(".md")} and {out.with_suffix(".json")}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
