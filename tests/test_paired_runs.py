"""A distilled run and its student-only twin with the same seed start from the same student.

The paired-seed KD-gain benchmark compares, per seed, a student-only run with a distilled
run; the comparison only cancels the seed's effect if both students are initialised alike and
see the same data. Building the teacher and the adapters draws from torch's RNG, so
``PointDistillerDetector`` restores the RNG state it found after building the student.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.utils import save_random_teacher

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / 'configs' / 'sim'
PAIRS = [
    ('pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
     'pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'),
    ('pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
     'pointdistiller-release_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'),
    ('pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py',
     'pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'),
]

pytestmark = pytest.mark.usefixtures('single_thread')


@pytest.fixture(scope='module')
def teacher_ckpt(tmp_path_factory):
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(SIM / 'pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'))
    path = tmp_path_factory.mktemp('teacher') / 'teacher.pth'
    save_random_teacher(cfg.model, path, seed=123)
    return str(path)


def _build(config: str, seed: int, teacher_ckpt: str):
    """What the runner does: seed, build, init_weights. Returns (model, numpy RNG state)."""
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(SIM / config))
    if cfg.model.type == 'PointDistillerDetector':
        cfg.model.teacher_ckpt = teacher_ckpt
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model, np.random.get_state()[1].copy()


@pytest.mark.parametrize('student_cfg,kd_cfg', PAIRS)
def test_same_seed_same_student_init(student_cfg, kd_cfg, teacher_ckpt):
    plain, np_plain = _build(student_cfg, 7, teacher_ckpt)
    kd, np_kd = _build(kd_cfg, 7, teacher_ckpt)
    s_plain, s_kd = plain.state_dict(), kd.student.state_dict()
    assert list(s_plain) == list(s_kd)
    for key in s_plain:
        assert torch.equal(s_plain[key], s_kd[key]), key
    # the augmentations draw from numpy's global RNG: untouched by the model build
    assert np.array_equal(np_plain, np_kd)
    # and another seed gives another student (the comparison above can fail)
    other, _ = _build(student_cfg, 8, teacher_ckpt)
    key = 'voxel_encoder.pfn_layers.0.linear.weight'
    assert not torch.equal(other.state_dict()[key], s_plain[key])
