"""A small simulated KITTI-format set converted by mmdet3d's own ``create_data``, for tests.

One converter run takes ~60 s (a third of it ``time.sleep`` inside mmdet3d's converter), so the
tests share one set per session through ``tests/conftest.py``'s ``sim_kitti_small`` fixture.
"""
import os
import subprocess
import sys
from pathlib import Path

from ..sim import generate_dataset, mmdet3d_mim_root

__all__ = ['convert_sim_kitti']


def convert_sim_kitti(root: Path, num_train: int, num_val: int, seed: int,
                      with_plane: bool = True) -> Path:
    """Simulate ``num_train`` + ``num_val`` frames into ``root`` and convert them with the
    unchanged ``mim run mmdet3d create_data kitti`` (infos, ground-truth database, planes).

    Returns:
        Path: ``root``.

    Raises:
        RuntimeError: the converter failed (its output tail in the message), or ``mim`` is
            not installed next to the running Python.
    """
    generate_dataset(root, num_train, num_val, seed=seed, progress=False)
    mim = Path(sys.executable).with_name('mim')
    if not mim.exists():
        raise RuntimeError(f'openmim is not installed next to {sys.executable}')
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join([mmdet3d_mim_root()] + (
        [env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    cmd = [str(mim), 'run', 'mmdet3d', 'create_data', 'kitti', '--root-path', str(root),
           '--out-dir', str(root), '--extra-tag', 'kitti']
    if with_plane:
        cmd.append('--with-plane')
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f'{" ".join(cmd)} failed:\n{proc.stdout[-3000:]}'
                           f'{proc.stderr[-3000:]}')
    return root
