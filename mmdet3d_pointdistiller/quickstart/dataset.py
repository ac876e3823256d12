"""The quickstart's dataset stage: simulate frames and convert them with mmdet3d's own
``create_data kitti``, unless a dataset of the budget's sizes and simulator seed is there."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Tuple

from mmdet3d_pointdistiller.sim import LidarSpec, generate_dataset, mmdet3d_mim_root
from mmdet3d_pointdistiller.utils.json_io import read_json, write_json

from .jobs import mim_executable
from .progress import Progress
from .settings import Budget

__all__ = ['dataset_ready', 'ensure_dataset']


def dataset_ready(root: Path, b: Budget) -> Tuple[bool, str]:
    """Whether ``root`` holds a converted dataset with ``b``'s split sizes."""
    need = ['kitti_infos_train.pkl', 'kitti_infos_val.pkl', 'kitti_dbinfos_train.pkl',
            'ImageSets/train.txt', 'ImageSets/val.txt']
    missing = [n for n in need if not (root / n).is_file()]
    if missing:
        return False, f'missing {missing}'
    sizes = {s: len((root / f'ImageSets/{s}.txt').read_text().split()) for s in ('train', 'val')}
    if sizes != {'train': b.num_train, 'val': b.num_val}:
        return False, (f'split sizes {sizes} differ from the budget\'s '
                       f"{{'train': {b.num_train}, 'val': {b.num_val}}}")
    return True, f'{sizes["train"]} train + {sizes["val"]} val frames'


def ensure_dataset(root: Path, b: Budget, seed: int, force: bool, progress: Progress,
                   workers: int = 1) -> bool:
    """Simulate + convert into ``root`` unless a matching dataset is there. Returns True if
    the dataset was (re)built."""
    ok, why = dataset_ready(root, b)
    stamp = read_json(root / 'quickstart_dataset.json')
    if ok and stamp is not None and stamp.get('seed') != seed:
        ok, why = False, f"simulator seed {stamp.get('seed')} differs from --data-seed {seed}"
    elif ok and stamp is None and seed != 0 and not force:
        raise SystemExit(f'{root} holds a dataset of unknown simulator seed (not written by the '
                         f'quickstart); pass --force-data to rebuild it with --data-seed {seed}')
    if ok and not force:
        progress.finish(skipped=True, note=f'{root}: {why}')
        return False
    if root.exists() and any(root.iterdir()) and not force and stamp is None:
        raise SystemExit(f'{root} exists but is not a quickstart dataset of this budget ({why}); '
                         f'pass --force-data to overwrite it or --data-root to use another '
                         f'folder')
    if root.exists() and stamp is not None:
        shutil.rmtree(root)  # a quickstart dataset of another size: rebuild from scratch
    progress.update(0.0, f'simulating {b.num_train} + {b.num_val} frames into {root}')
    stats = generate_dataset(root, b.num_train, b.num_val, seed=seed, spec=LidarSpec(),
                             workers=workers, progress=False)
    progress.update(0.3, f"simulated {stats['frames']} frames in {stats['seconds']:.0f} s; "
                         f'running mmdet3d\'s converter (create_data kitti --with-plane)')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [mmdet3d_mim_root()] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    log = root / 'create_data.log'
    with open(log, 'w') as f:
        proc = subprocess.run([mim_executable(), 'run', 'mmdet3d', 'create_data', 'kitti',
                               '--root-path', str(root), '--out-dir', str(root), '--extra-tag',
                               'kitti', '--with-plane'], env=env, stdout=f,
                              stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f'mmdet3d create_data failed (exit {proc.returncode}), see {log}:\n'
                           + ''.join(open(log).readlines()[-30:]))
    ok, why = dataset_ready(root, b)
    if not ok:
        raise RuntimeError(f'the converter ran but {root} is incomplete: {why}; see {log}')
    write_json(root / 'quickstart_dataset.json',
               dict(seed=seed, num_train=b.num_train, num_val=b.num_val))
    progress.finish(note=f'{root}: {why}')
    return True
