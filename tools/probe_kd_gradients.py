#!/usr/bin/env python
"""Do a distillation config's KD gradients pull with or against the detection gradients?

For every ``--methods NAME=CONFIG`` and every student state of ``--states`` (``init``: the
freshly initialised student; ``STATE=CKPT``: a plain student checkpoint, e.g. the end of a
student-only run; ``STATE@METHOD=CKPT``: for METHOD only, e.g. the end of its own
distillation run, adapters included), the first ``--batches`` training batches give the
cosine between the detection and the KD gradients on the student parameters that the KD loss
reaches, and their norm ratio (``mmdet3d_pointdistiller/utils/grad_alignment.py``). Prints and
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
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


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


def summarise(values: Sequence[float]) -> dict:
    """Mean over batches with a Student-t 95 % interval (nan interval for one value)."""
    from mmdet3d_pointdistiller.utils.paired_stats import mean_ci
    stats = mean_ci([v for v in values if math.isfinite(v)])
    return {k: stats[k] for k in ('mean', 'ci95', 'n')}


def render(rec: dict) -> str:
    def cell(s: dict, sign: bool) -> str:
        fmt = '{:+.3f}' if sign else '{:.3f}'
        if s['n'] < 2:
            return fmt.format(s['mean'])
        return (fmt.format(s['mean']) + ' [' + fmt.format(s['ci95'][0]) + ', '
                + fmt.format(s['ci95'][1]) + ']')
    lines = ['# KD and detection gradients on the student', '',
             f"Cosine between ∇L_det and ∇L_kd, and |∇L_kd| / |∇L_det|, on the student "
             f"parameters the KD loss reaches; mean over the first {rec['batches']} training "
             f"batches (seed {rec['seed']}) with a Student-t 95 % interval over batches. "
             'Raw gradients, before AdamW\'s per-coordinate scaling. Student states: `init` '
             'the initialised student, a plain student checkpoint (the adapters at their '
             'initialisation: what a delayed KD start would see), or the end of a method\'s '
             'own distillation run (its trained adapters).', '',
             '| method | student | group | cos(∇det, ∇kd) | \\|∇kd\\| / \\|∇det\\| |',
             '|---|---|---|---|---|']
    for r in rec['results']:
        for group, s in r['summary'].items():
            lines.append(f"| {r['method']} | {r['state']} | {group} | {cell(s['cos'], True)} "
                         f"| {cell(s['ratio'], False)} |")
    lines += ['', f"Command: `{rec['command']}` ({rec['wall_time_s']:.0f} s, "
                  f"{rec['threads']} torch thread(s)).", '']
    return '\n'.join(lines)


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
    import torch
    torch.set_num_threads(args.threads)
    from mmengine.config import Config

    import mmdet3d_pointdistiller  # noqa: F401  registers modules
    from mmdet3d_pointdistiller.utils.grad_alignment import probe_kd_gradients
    t0 = time.perf_counter()
    results = []
    unknown = sorted({s.split('@', 1)[1] for s in states if '@' in s} - set(methods))
    if unknown:
        raise SystemExit(f'--states names methods {unknown} that --methods does not have')
    for method, config in methods.items():
        for state, ckpt in states.items():
            if '@' in state:
                state, only = state.split('@', 1)
                if only != method:
                    continue
            print(f'{method} / student {state}:', flush=True)
            probe = probe_kd_gradients(Config.fromfile(config), batches=args.batches,
                                       student_ckpt=None if ckpt == 'init' else ckpt,
                                       seed=args.seed)
            summary = {g: {k: summarise([b[g][k] for b in probe['per_batch'] if g in b])
                           for k in ('cos', 'ratio')} for g in probe['groups']}
            results.append(dict(method=method, config=config, state=state,
                                student_ckpt=None if ckpt == 'init' else ckpt,
                                summary=summary, per_batch=probe['per_batch']))
    rec = dict(batches=args.batches, seed=args.seed, threads=args.threads, results=results,
               wall_time_s=time.perf_counter() - t0,
               command='python tools/probe_kd_gradients.py ' + shlex.join(
                   sys.argv[1:] if argv is None else list(argv)))
    text = render(rec)
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
