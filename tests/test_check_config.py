"""apis.check_distill_config: one training step of a distillation config on the shipped KITTI
frame, on the walk-through's example config (docs/custom_distillation.md builds on it)."""
from pathlib import Path

import pytest

from mmdet3d_pointdistiller.apis import check_distill_config, format_report
from mmdet3d_pointdistiller.testing import kitti_real_dir

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / 'docs' / 'examples' / 'pointdistiller_my-pointpillars-2x_kitti-3d-3class.py'
STUDENT = REPO / 'docs' / 'examples' / 'my-pointpillars-2x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'

pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def test_example_config_takes_one_checked_step():
    res = check_distill_config(EXAMPLE, kitti_real_dir(), random_teacher=True)
    assert res['taps'] == ['pfn', 'backbone_1']
    assert set(res['kd_losses']) == {'pfn', 'backbone_1'}
    assert all(v > 0 for v in res['kd_losses'].values())
    # the PFN tap teaches the pillar encoder, the BEV tap the 2-D backbone; nothing else
    assert res['kd_reaches'] == ['backbone', 'voxel_encoder']
    assert res['teacher_unchanged'] and res['student_changed']
    assert {'loss_cls', 'loss_bbox', 'loss_dir', 'loss_pd_pfn', 'loss_pd_backbone_1'} <= \
        set(res['losses'])
    report = format_report(str(EXAMPLE), res)
    assert 'the KD gradient reaches the student\'s: backbone, voxel_encoder' in report


def test_wrong_configs_fail_with_the_key():
    with pytest.raises(ValueError, match='model.type must be PointDistillerDetector'):
        check_distill_config(STUDENT, kitti_real_dir(), random_teacher=True)
    with pytest.raises(KeyError, match=r"distill_cfg\[1\].loss has unknown key 'num_neighbours' "
                                       r"\(did you mean 'num_neighbors'\?\)"):
        check_distill_config(EXAMPLE, kitti_real_dir(), random_teacher=True, cfg_options=[
            'model.distill_cfg.1.loss.num_neighbours=16'])
    with pytest.raises(ValueError, match=r"distill_cfg\[1\]\.loss\.teacher_channels=64"):
        check_distill_config(EXAMPLE, kitti_real_dir(), random_teacher=True, cfg_options=[
            'model.distill_cfg.1.loss.teacher_channels=64'])
