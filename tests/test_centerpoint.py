"""CenterPoint family: head distillation loss, configs, a distillation step, export, mim train.

The loss is checked against values computed here by hand (float64 numpy) on small maps,
including a frame where the teacher has no peak and a class with no object; the distiller runs
the shipped sim CenterPoint configs on the real KITTI frame 000008 (teacher randomly
initialised and saved in the test), the nuScenes config on a cropped grid with random points,
and ``mim train mmdet3d`` on the session's converted simulated set.
"""
import copy
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS, TRANSFORMS
from mmdet3d.structures import LiDARInstance3DBoxes
from mmdet3d_pointdistiller.models.distillers import parse_distill_cfg
from mmdet3d_pointdistiller.models.distillers.export import export_student_state
from mmdet3d_pointdistiller.models.layers import FoldedPFNLayer
from mmdet3d_pointdistiller.models.losses import CenterHeadDistillLoss
from mmdet3d_pointdistiller.models.losses.centerhead_distill_loss import teacher_peaks
from mmdet3d_pointdistiller.testing import (CP_NUS_KD, CP_SIM_KD, crop_centerpoint, kd_config,
                                            kitti_frame)
from mmdet3d_pointdistiller.utils import save_random_teacher

REPO = Path(__file__).resolve().parents[1]
SIM = REPO / 'configs' / 'sim'
SUFFIX = '_pillar032_second_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
init_default_scope('mmdet3d')


def logit(p):
    return math.log(p / (1 - p))


def head_out(hm_logits, regs):
    """One task's CenterHead output: ``[dict(heatmap=..., reg=..., ...)]``."""
    return [dict(regs, heatmap=hm_logits)]


def np_sigmoid(x):
    return np.clip(1 / (1 + np.exp(-x)), 1e-4, 1 - 1e-4)


def np_focal(t_logit, s_logit, beta=2.0):
    pt, ps = np_sigmoid(t_logit), np_sigmoid(s_logit)
    bce = -(pt * np.log(ps) + (1 - pt) * np.log(1 - ps))
    return float((np.abs(pt - ps) ** beta * bce).sum())


def regs(gen, b, h, w, scale=1.0):
    return {k: torch.randn(b, c, h, w, generator=gen, dtype=torch.float64) * scale
            for k, c in (('reg', 2), ('height', 1), ('dim', 3), ('rot', 2))}


# ----------------------------------------------------------------------------- loss by hand
def test_focal_and_box_terms_match_hand_computation():
    g = torch.Generator().manual_seed(0)
    t_hm = torch.full((1, 1, 3, 3), logit(0.05), dtype=torch.float64)
    t_hm[0, 0, 1, 1] = logit(0.8)  # the only peak
    t_hm[0, 0, 0, 0] = logit(0.3)  # above the threshold, not a local maximum
    s_hm = torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    t_reg, s_reg = regs(g, 1, 3, 3), regs(g, 1, 3, 3)
    for v in s_reg.values():
        v.requires_grad_(True)
    loss = CenterHeadDistillLoss(heatmap_weight=0.7, reg_weight=0.25, loss_weight=2.0)
    value = loss((head_out(t_hm, t_reg), ), (head_out(s_hm, s_reg), ))
    hm = np_focal(t_hm.numpy(), s_hm.detach().numpy()) / 1  # one peak
    box = sum(float((s_reg[k].detach()[0, :, 1, 1] - t_reg[k][0, :, 1, 1]).abs().sum())
              for k in t_reg)
    assert value.item() == pytest.approx(2.0 * (0.7 * hm + 0.25 * box), rel=1e-5)
    value.backward()
    # the box maps get gradient only at the peak
    grad = s_reg['dim'].grad[0].abs().sum(0)
    assert grad[1, 1] > 0 and float(grad.sum() - grad[1, 1]) == 0.0
    assert s_hm.grad.abs().min() > 0  # every heatmap pixel is a soft target


def test_empty_frame_has_zero_box_term_and_stays_connected():
    g = torch.Generator().manual_seed(1)
    t_hm = torch.full((2, 1, 4, 4), logit(0.05), dtype=torch.float64)  # no peak >= 0.1
    s_hm = torch.randn(2, 1, 4, 4, generator=g, dtype=torch.float64, requires_grad=True)
    t_reg, s_reg = regs(g, 2, 4, 4), regs(g, 2, 4, 4)
    s_reg['reg'].requires_grad_(True)
    value = CenterHeadDistillLoss(reg_weight=1.0)((head_out(t_hm, t_reg), ),
                                                  (head_out(s_hm, s_reg), ))
    # n = max(1, 0 peaks): the heatmap sum itself
    assert value.item() == pytest.approx(np_focal(t_hm.numpy(), s_hm.detach().numpy()),
                                         rel=1e-6)
    value.backward()
    assert s_reg['reg'].grad is not None and float(s_reg['reg'].grad.abs().sum()) == 0.0


def test_class_without_object_and_two_peaks_weighted_mean_mse():
    g = torch.Generator().manual_seed(2)
    t_hm = torch.full((1, 2, 4, 4), logit(0.02), dtype=torch.float64)
    t_hm[0, 0, 0, 0] = logit(0.9)
    t_hm[0, 0, 3, 3] = logit(0.4)  # class 1 has no object at all
    s_hm = torch.randn(1, 2, 4, 4, generator=g, dtype=torch.float64)
    t_reg, s_reg = regs(g, 1, 4, 4), regs(g, 1, 4, 4)
    value = CenterHeadDistillLoss(heatmap_loss='mse', reg_weight=0.5)(
        (head_out(t_hm, t_reg), ), (head_out(s_hm, s_reg), ))
    pt, ps = np_sigmoid(t_hm.numpy()), np_sigmoid(s_hm.numpy())
    hm = float(((ps - pt) ** 2).sum()) / 2  # two peaks
    d = {k: (s_reg[k] - t_reg[k]).abs().sum(1)[0].numpy() for k in t_reg}
    box = (0.9 * sum(v[0, 0] for v in d.values()) + 0.4 * sum(v[3, 3] for v in d.values())) / 1.3
    assert value.item() == pytest.approx(hm + 0.5 * box, rel=1e-6)


def test_tasks_are_summed_and_reg_heads_select_maps():
    g = torch.Generator().manual_seed(3)
    outs_t, outs_s = [], []
    for _ in range(2):
        t_hm = torch.full((1, 1, 3, 3), logit(0.05), dtype=torch.float64)
        t_hm[0, 0, 1, 2] = logit(0.6)
        outs_t.append(head_out(t_hm, regs(g, 1, 3, 3)))
        outs_s.append(head_out(torch.randn(1, 1, 3, 3, generator=g, dtype=torch.float64),
                               regs(g, 1, 3, 3)))
    loss = CenterHeadDistillLoss(reg_heads=['dim'], heatmap_weight=0.0)
    value = loss(tuple(outs_t), tuple(outs_s))
    expected = sum(float((s[0]['dim'][0, :, 1, 2] - t[0]['dim'][0, :, 1, 2]).abs().sum())
                   for t, s in zip(outs_t, outs_s))
    assert value.item() == pytest.approx(expected, rel=1e-6)


def test_teacher_peaks_are_thresholded_local_maxima():
    p = torch.tensor([[[[0.9, 0.5, 0.05, 0.2],
                        [0.5, 0.3, 0.05, 0.05],
                        [0.05, 0.05, 0.05, 0.05],
                        [0.08, 0.05, 0.05, 0.35]]]])
    peaks = teacher_peaks(p, 0.1, 3)
    assert peaks[0, 0].nonzero().tolist() == [[0, 0], [0, 3], [3, 3]]
    assert teacher_peaks(p, 0.1, 1).sum() == int((p >= 0.1).sum())


@pytest.mark.parametrize('kwargs, pattern', [
    (dict(heatmap_loss='l2'), r"heatmap_loss must be one of \('focal', 'mse'\)"),
    (dict(peak_kernel=2), 'peak_kernel must be an odd positive int'),
    (dict(reg_heads=['heatmap']), 'reg_heads must be a list of regression head names'),
    (dict(feature_layout='bev'), "feature_layout must be 'head'"),
    (dict(peak_thr=1.5), r'peak_thr must be in \(0, 1\)'),
])
def test_bad_arguments_are_named(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        CenterHeadDistillLoss(**kwargs)


def test_different_grids_or_task_counts_are_refused():
    g = torch.Generator().manual_seed(4)
    t = head_out(torch.zeros(1, 1, 3, 3), regs(g, 1, 3, 3))
    s = head_out(torch.zeros(1, 1, 4, 4), regs(g, 1, 4, 4))
    loss = CenterHeadDistillLoss()
    with pytest.raises(ValueError, match=r"task 0 'heatmap': teacher map \(1, 1, 3, 3\), "
                                         r'student \(1, 1, 4, 4\).*same grid'):
        loss((t, ), (s, ))
    with pytest.raises(ValueError, match='the teacher head has 2 tasks, the student head 1'):
        loss((t, t), (t, ))


def test_bev_tap_on_different_grids_names_the_tap():
    (tap, ) = parse_distill_cfg([dict(
        name='b0', module='pts_backbone', output=0,
        loss=dict(type='PointDistillerLoss', teacher_channels=8, student_channels=4,
                  feature_layout='bev', score='teacher_max'))])
    t_out = {'pts_backbone': [torch.zeros(1, 8, 16, 16)]}
    s_out = {'pts_backbone': [torch.zeros(1, 4, 8, 8)]}
    with pytest.raises(ValueError, match=r'distill_cfg\[0\]: teacher.pts_backbone \(output=0\) '
                                         r'gives a \(16, 16\) map but student.pts_backbone a '
                                         r'\(8, 8\) one'):
        tap.select(t_out, s_out)


def test_add_zero_velocity_transform():
    boxes = LiDARInstance3DBoxes(torch.tensor([[1., 2., -1., 4., 2., 1.5, 0.3]]))
    out = TRANSFORMS.build(dict(type='AddZeroVelocity'))(dict(gt_bboxes_3d=boxes))
    new = out['gt_bboxes_3d']
    assert new.box_dim == 9 and new.tensor.shape == (1, 9)
    assert torch.equal(new.tensor[:, :7], boxes.tensor)
    assert torch.equal(new.tensor[:, 7:], torch.zeros(1, 2))
    assert TRANSFORMS.build(dict(type='AddZeroVelocity'))(out)['gt_bboxes_3d'] is new
    with pytest.raises(KeyError, match="AddZeroVelocity needs 'gt_bboxes_3d'"):
        TRANSFORMS.build(dict(type='AddZeroVelocity'))({})


# ----------------------------------------------------------------------------- configs
def test_students_divide_every_width_like_the_pointpillars_students():
    teacher = Config.fromfile(str(SIM / ('centerpoint' + SUFFIX))).model
    for ratio, div in (('4x', 2), ('16x', 4)):
        student = Config.fromfile(str(SIM / (f'centerpoint-{ratio}' + SUFFIX))).model
        assert student.pts_voxel_encoder.feat_channels == [64 // div]
        assert student.pts_backbone.out_channels == [c // div for c in (64, 128, 256)]
        assert student.pts_neck.out_channels == [128 // div] * 3
        head = student.pts_bbox_head
        assert (head.in_channels, head.share_conv_channel, head.separate_head.head_conv) == (
            384 // div, 64 // div, 64 // div)
        # nothing else differs from the teacher
        for key in ('data_preprocessor', 'train_cfg', 'test_cfg'):
            assert student[key] == teacher[key]
    # the sim CenterPoint's point branch is the sim PointPillars one (same modules)
    pp = Config.fromfile(str(SIM / 'pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'))
    assert teacher.pts_backbone == pp.model.backbone and teacher.pts_neck == pp.model.neck
    assert teacher.pts_voxel_encoder == pp.model.voxel_encoder
    # the task order is the dataset's class order (CenterHead numbers labels by position)
    names = [n for t in teacher.pts_bbox_head.tasks for n in t.class_names]
    assert names == list(pp.class_names)


# ----------------------------------------------------------------------------- distiller
@pytest.fixture(scope='module')
def sim_kd(tmp_path_factory):
    cfg = kd_config(CP_SIM_KD)
    ckpt = tmp_path_factory.mktemp('cp') / 'teacher.pth'
    teacher_state = save_random_teacher(cfg.model.teacher, ckpt)
    cfg.model.teacher_ckpt = str(ckpt)
    item = kitti_frame(cfg.point_cloud_range, [dict(type='AddZeroVelocity')])
    return dict(cfg=cfg, teacher_state=teacher_state, item=item)


def test_sim_distill_step_on_real_frame_keeps_teacher_and_predicts(sim_kd):
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(sim_kd['cfg'].model))
    model.init_weights()
    assert isinstance(model.teacher.pts_voxel_encoder.pfn_layers[0], FoldedPFNLayer)
    student_before = {k: v.clone() for k, v in model.student.state_dict().items()}
    model.train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                            optimizer=dict(type='AdamW', lr=1e-3)))
    log = model.train_step(pseudo_collate([sim_kd['item'], copy.deepcopy(sim_kd['item'])]),
                           optim)
    for key in ('loss_pd_pfn', 'loss_pd_centerhead', 'task2.loss_heatmap'):
        assert math.isfinite(float(log[key])) and float(log[key]) > 0, (key, log)
    for k, v in sim_kd['teacher_state'].items():  # bit-identical to the checkpoint file
        assert torch.equal(model.teacher.state_dict()[k], v), k
    changed = [k for k, v in model.student.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, student_before[k])]
    assert any(k.startswith('pts_bbox_head.task_heads') for k in changed)
    assert any(k.startswith('pts_voxel_encoder') for k in changed)
    model.eval()
    with torch.no_grad():
        result = model.test_step(pseudo_collate([sim_kd['item']]))[0]
    assert result.pred_instances_3d.bboxes_3d.tensor.shape[1] == 9
    # export: the plain student config loads the student strictly and predicts the same
    exported = export_student_state(dict(state_dict=model.state_dict()))
    plain_cfg = Config.fromfile(str(SIM / ('centerpoint-16x' + SUFFIX))).model
    plain = MODELS.build(plain_cfg)
    plain.load_state_dict(exported['state_dict'], strict=True)
    plain.eval()
    with torch.no_grad():
        data = plain.data_preprocessor(pseudo_collate([sim_kd['item']]), False)
        plain_result = plain.predict(data['inputs'], data['data_samples'])[0]
    assert torch.equal(plain_result.pred_instances_3d.bboxes_3d.tensor,
                       result.pred_instances_3d.bboxes_3d.tensor)


def test_head_kd_gradient_reaches_only_the_student_head(sim_kd):
    cfg = copy.deepcopy(sim_kd['cfg'].model)
    cfg.distill_cfg = [cfg.distill_cfg[1]]  # the CenterHead tap alone
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(pseudo_collate([sim_kd['item']]), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    losses['loss_pd_centerhead'].backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    head_grad = sum(float(p.grad.abs().sum()) for p in model.student.pts_bbox_head.parameters()
                    if p.grad is not None)
    assert head_grad > 0


def test_head_kd_with_different_tasks_names_the_loss(sim_kd):
    cfg = copy.deepcopy(sim_kd['cfg'].model)
    cfg.student.pts_bbox_head.tasks = [dict(num_class=2, class_names=['Pedestrian', 'Cyclist']),
                                       dict(num_class=1, class_names=['Car'])]
    with pytest.raises(ValueError, match=r"distill_cfg\[1\]\.loss: CenterHeadDistillLoss needs "
                                         r'the same tasks.*student.pts_bbox_head'):
        MODELS.build(cfg)


def test_nuscenes_centerpoint_distiller_step(tmp_path):
    crop = [-12.8, -12.8, -5.0, 12.8, 12.8, 3.0]
    cfg = kd_config(CP_NUS_KD, teacher_edit=lambda t: crop_centerpoint(t, crop))
    crop_centerpoint(cfg.model.student, crop)
    assert cfg.model.student.test_cfg.pts.nms_type == 'circle'
    base = Config.fromfile(
        str(REPO / 'configs/_base_/distill/pointdistiller_centerpoint_nus-3d.py'))
    cfg.model.distill_cfg.append(dict(base.pd_head_tap, loss=base.pd_head_loss))
    cfg.model.teacher_ckpt = str(tmp_path / 'teacher.pth')
    save_random_teacher(cfg.model.teacher, cfg.model.teacher_ckpt)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(6000, 5, generator=g) * torch.tensor([24., 24., 6., 1., 0.]) \
        - torch.tensor([12., 12., 4., 0., 0.])  # x, y, z, intensity, sweep time
    item = dict(inputs=dict(points=pts), data_samples=_nus_sample())
    model.train()
    data = model.data_preprocessor(pseudo_collate([item]), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['loss_pd_pfn'].item() > 0 and losses['loss_pd_centerhead'].item() > 0
    assert len([k for k in losses if k.endswith('loss_heatmap')]) == 6  # six nuScenes tasks
    model.eval()
    with torch.no_grad():
        result = model.test_step(pseudo_collate([item]))[0]
    assert result.pred_instances_3d.bboxes_3d.tensor.shape[1] == 9


def _nus_sample():
    from mmdet3d.structures import Det3DDataSample
    from mmengine.structures import InstanceData
    sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(torch.tensor([[2., 3., -1., 4., 2., 1.5, 0.3, 1., 0.]]),
                                       box_dim=9),
        labels_3d=torch.tensor([0]))
    return sample


# ----------------------------------------------------------------------------- mim train
@pytest.mark.slow  # ~45-70 s; the default tier trains CenterPoint KD steps in-process
def test_mim_train_of_the_sim_centerpoint_distillation_config(sim_kitti_small, tmp_path):
    cfg = kd_config(CP_SIM_KD)
    teacher = tmp_path / 'teacher.pth'
    save_random_teacher(cfg.model.teacher, teacher)
    work = tmp_path / 'work'
    env = dict(os.environ, PD_SIM_KITTI=str(sim_kitti_small) + '/', OMP_NUM_THREADS='1')
    cmd = [str(Path(sys.executable).with_name('mim')), 'train', 'mmdet3d', str(CP_SIM_KD),
           '--work-dir', str(work), '--cfg-options', f'model.teacher_ckpt={teacher}',
           'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'train_dataloader.batch_size=1',
           'default_hooks.logger.interval=1', 'log_processor.window_size=1',
           'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', 'param_scheduler.1.end=2',
           'param_scheduler.1.T_max=1', 'custom_hooks.0.num_batches=2']
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    kd = [float(v) for v in re.findall(r'loss_pd_centerhead: ([0-9.e+-]+)', out)]
    assert len(kd) == 2 and all(v > 0 and math.isfinite(v) for v in kd), out[-3000:]
    assert 'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate' in out
    assert (work / 'iter_2.pth').is_file()
    assert np.isfinite(kd).all()


# ----------------------------------------------------------------------------- cost record
def test_cost_benchmark_measures_and_renders(tmp_path):
    from mmdet3d_pointdistiller.bench import centerpoint_cost as cc
    from mmdet3d_pointdistiller.testing import kitti_real_dir
    cases = [cc.CASES[0], cc.CASES[1], ('CenterPoint 16x CenterHead KD', cc.CASES[8][1])]
    record = cc.measure(kitti_real_dir(), iters=2, rounds=1, warmup=0, cases=cases,
                        log=lambda *_: None)
    rows = {r['name']: r for r in record['rows']}
    assert len(rows['PointPillars 16x student']['times_s']) == 2
    assert rows['CenterPoint 16x CenterHead KD']['params_m'] == pytest.approx(0.362385)
    assert rows['CenterPoint 16x CenterHead KD']['kd_params_m'] == 0.0  # no adapters
    # design (c): the student adapter (1x1 conv 2*16 -> 128, BN) is trained; the fixed
    # teacher-side identity (128 x 128) is not counted
    assert rows[cc.CASES[1][0]]['kd_params_m'] * 1e6 == pytest.approx(128 * 32 + 2 * 128)
    hashes = {r['config_hash'] for r in record['rows']}
    assert len(hashes) == 3 and all(len(h) == 40 for h in hashes)
    text = cc.render(record, 'cmd')
    assert '| CenterPoint 16x CenterHead KD (`centerhead-kd_centerpoint-16x' in text


def test_committed_cost_record_recomputes():
    from mmdet3d_pointdistiller.bench import centerpoint_cost as cc
    import json
    js = REPO / 'benchmarks' / 'centerpoint_cost.json'
    record = json.loads(js.read_text())
    assert [(r['name'], r['config']) for r in record['rows']] == list(cc.CASES)
    assert all(len(r['times_s']) == record['iters'] * record['rounds'] for r in record['rows'])
    assert js.with_suffix('.md').read_text() == cc.render(record, record['command'])


def test_committed_cost_record_measured_the_configs_as_they_are():
    """A config edited after the measurement (e.g. a new default design) makes the record
    stale: re-run its command."""
    from mmdet3d_pointdistiller.quickstart.jobs import config_hash
    import json
    record = json.loads((REPO / 'benchmarks' / 'centerpoint_cost.json').read_text())
    stale = [r['config'] for r in record['rows']
             if r.get('config_hash') != config_hash(r['config'], [], {}, REPO)]
    assert not stale, f'benchmarks/centerpoint_cost.json measured other versions of {stale}'
