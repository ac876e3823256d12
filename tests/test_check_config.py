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


def test_measure_adapter_outputs_of_a_checkpoint(tmp_path):
    """Measure a distillation checkpoint's adapters on one frame: the example config with a
    random teacher, saved as a training checkpoint; one teacher-side channel forced to copy
    another changes the effective dimensions by a known amount."""
    import copy

    import torch
    from mmengine.config import Config

    from mmdet3d.registry import MODELS
    from mmdet3d_pointdistiller.apis import measure_adapter_outputs
    from mmdet3d_pointdistiller.models.distillers import load_teacher_config
    from mmdet3d_pointdistiller.utils import save_random_teacher
    cfg = Config.fromfile(str(EXAMPLE))
    teacher = tmp_path / 'teacher.pth'
    save_random_teacher(load_teacher_config(cfg.model.teacher), teacher)
    cfg.model.teacher_ckpt = str(teacher)
    model = MODELS.build(copy.deepcopy(cfg.model))
    ckpt = tmp_path / 'iter_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    opts = [f'model.teacher_ckpt={teacher}']
    res = measure_adapter_outputs(EXAMPLE, ckpt, batches=2, frame_dir=kitti_real_dir(),
                                  cfg_options=opts)
    assert set(res) == {'pfn', 'backbone_1'}
    assert all(stats['loss'] > 0 for stats in res.values())
    # design (c): the edge features standardised by running statistics (0.73 measured on this
    # fresh model's two batches), no ReLU
    assert 0.3 < res['pfn']['out_var_t'] < 3.0
    assert res['pfn']['out_active_t'] > 0.5  # measured 0.84
    assert res['pfn']['out_dims_t'] > 2.0  # random PFN features of 10-dim points
    # the frozen conv-BN-ReLU adapter at the BEV tap: about half of its outputs live
    assert 0.2 < res['backbone_1']['out_active_t'] < 0.8
    with torch.no_grad():  # every teacher-side channel the same projection: one dimension
        w = model.distill_losses['pfn'].teacher_adapter.conv.weight
        w.copy_(w[:1].expand_as(w))
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    res = measure_adapter_outputs(EXAMPLE, ckpt, batches=1, frame_dir=kitti_real_dir(),
                                  cfg_options=opts)
    assert res['pfn']['out_dims_t'] == pytest.approx(1.0, rel=1e-3)
