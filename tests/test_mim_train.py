"""A real `mim train mmdet3d` on mmdet3d's mini KITTI set, then --resume and load_from.

Exercises the whole installed stack (mmcv ops, runner, checkpoints written by mmengine
0.10.7 and read back on torch >= 2.6 through the package's safe loader, CPU KittiMetric).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mmdet3d_pointdistiller.testing import kitti_mini_dir

REPO = Path(__file__).resolve().parents[1]
MINI = kitti_mini_dir()
CONFIG = REPO / 'configs/quickstart/pointpillars_hv_secfpn_1xb1-4it_kitti-mini-3d-3class.py'
MIM = Path(sys.executable).with_name('mim')


@pytest.fixture(autouse=True)
def _mini_set():
    """The mini KITTI set ships in tests/data: a missing folder fails, naming it."""
    assert MINI.is_dir(), f'mini KITTI set not found at {MINI}'


def _mim_train(work_dir: Path, *extra: str) -> str:
    env = dict(os.environ, PD_KITTI_MINI=str(MINI) + '/')
    proc = subprocess.run(
        [str(MIM), 'train', 'mmdet3d', str(CONFIG), '--work-dir', str(work_dir), *extra],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp('mim_train')
    out = _mim_train(work)
    return work, out


def test_train_writes_checkpoints_and_evaluates(trained):
    work, out = trained
    assert (work / 'epoch_1.pth').is_file() and (work / 'epoch_2.pth').is_file()
    losses = [float(v) for v in re.findall(r'\bloss: ([0-9.]+)', out)]
    # a fresh PointPillars on one frame: focal + smooth-L1 + direction losses of order 1
    assert len(losses) >= 4 and all(0.1 < v < 20.0 for v in losses), losses
    assert 'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate' in out
    ckpt = torch.load(work / 'epoch_2.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 2 and 'message_hub' in ckpt


def test_resume_continues_from_last_checkpoint(trained, tmp_path):
    work, _ = trained
    out = _mim_train(work, '--resume', '--cfg-options', 'train_cfg.max_epochs=3',
                     'train_cfg.val_interval=100')
    assert 'Loads checkpoint by safe_local backend' in out
    assert re.search(r'resumed epoch: 2, iter: 4', out), out[-3000:]
    assert (work / 'epoch_3.pth').is_file()
    ckpt = torch.load(work / 'epoch_3.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 6


@pytest.mark.slow  # ~2.5 min; load_from of distiller checkpoints: tests/test_resume.py
def test_load_from_initialises_the_model(trained, tmp_path):
    work, _ = trained
    src = work / 'epoch_2.pth'
    out = _mim_train(tmp_path, '--cfg-options', f'load_from={src}', 'train_cfg.max_epochs=1',
                     'train_cfg.val_interval=100')
    assert f'Load checkpoint from {src}' in out
    assert 'Loads checkpoint by safe_local backend' in out
    assert (tmp_path / 'epoch_1.pth').is_file()
