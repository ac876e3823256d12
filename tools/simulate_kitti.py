#!/usr/bin/env python
"""Generate the simulated KITTI-format LiDAR dataset (mmdet3d_pointdistiller.sim).

Example::

    python tools/simulate_kitti.py --out data/sim_kitti --num-train 400 --num-val 100 --seed 0
    PYTHONPATH=$(python -c "from mmdet3d_pointdistiller.sim import \
mmdet3d_mim_root as m; print(m())") \
        mim run mmdet3d create_data kitti --root-path data/sim_kitti \
        --out-dir data/sim_kitti --extra-tag kitti --with-plane

``--create-data`` runs that second (stock, unchanged) mmdet3d converter command for you.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from mmdet3d_pointdistiller.sim import LidarSpec, generate_dataset, mmdet3d_mim_root


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Simulate a KITTI-format LiDAR dataset (64-beam ray casting into '
                    'procedural street scenes).')
    p.add_argument('--out', default='data/sim_kitti', help='dataset root to write')
    p.add_argument('--num-train', type=int, default=400, help='frames in the train split')
    p.add_argument('--num-val', type=int, default=100,
                   help='frames in the val split (also exposed as the unlabelled test split)')
    p.add_argument('--seed', type=int, default=0, help='frame i is drawn from rng([seed, i])')
    p.add_argument('--az-step', type=float, default=0.17,
                   help='azimuth step of the sensor in degrees (HDL-64E at 10 Hz: ~0.17)')
    p.add_argument('--workers', type=int, default=1, help='processes (frames are independent)')
    p.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')
    p.add_argument('--create-data', action='store_true',
                   help='then run `mim run mmdet3d create_data kitti ... --with-plane` on --out')
    return p.parse_args(argv)


def run_create_data(root: str) -> None:
    """Run mmdet3d's stock KITTI converter via ``mim`` with its ``tools`` package importable."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [mmdet3d_mim_root()] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    mim = Path(sys.executable).with_name('mim')
    cmd = [str(mim) if mim.exists() else 'mim', 'run', 'mmdet3d', 'create_data', 'kitti',
           '--root-path', root, '--out-dir', root, '--extra-tag', 'kitti', '--with-plane']
    print('running:', ' '.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    print(f'create_data finished in {time.perf_counter() - t0:.1f} s')


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.num_train < 1 or args.num_val < 1:
        raise SystemExit('--num-train and --num-val must be >= 1 (mmdet3d\'s converter fails '
                         'on empty splits)')
    if args.workers < 1:
        raise SystemExit('--workers must be >= 1')
    spec = LidarSpec(az_step_deg=args.az_step)
    stats = generate_dataset(args.out, args.num_train, args.num_val, seed=args.seed, spec=spec,
                             workers=args.workers, progress=not args.no_progress)
    n = stats['frames']
    print(f"wrote {n} frames ({args.num_train} train, {args.num_val} val) to {args.out} in "
          f"{stats['seconds']:.2f} s: {stats['frames_per_s']:.1f} frames/s wall with "
          f"{args.workers} worker(s), {1.0 / stats['cpu_seconds_per_frame']:.1f} frames/s per "
          f"core ({1000 * stats['cpu_seconds_per_frame']:.0f} ms/frame incl. writing)")
    print(f"points/frame: {stats['points_per_frame']:.0f}; labels/frame: " + ', '.join(
        f'{k} {v / n:.2f}' for k, v in stats['labels'].items()))
    if args.create_data:
        run_create_data(args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
