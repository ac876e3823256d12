"""PointDistillerDetector: frozen teacher, gradients, loss keys, student-only predict, errors.

Models are built from the shipped distillation configs (the real PointDistillerLoss, real
mmdet3d detectors and mmcv voxelization) and run on the real KITTI frame 000008 through
mmdet3d's own ``KittiDataset`` pipeline. To keep the file fast on CPU the point-cloud range
is cropped (smaller BEV grid, same architectures); teachers are randomly initialised and
saved with ``torch.save({'state_dict': ...})`` inside the tests.
"""
import copy
import logging
import math
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.distillers import (PointDistillerDetector,
                                                      load_teacher_config)
from mmdet3d_pointdistiller.models.losses import PointDistillerLoss, recording_selections
from mmdet3d_pointdistiller.models.losses.edge_adapters import edge_identity_weight
from mmdet3d_pointdistiller.testing import (NUS_KD, PP_CROP, PP_KD, RCNN_KD, SECOND_CROP,
                                            SECOND_KD, kd_config, kitti_frame)
from mmdet3d_pointdistiller.utils import save_random_teacher

REPO = Path(__file__).resolve().parents[1]

init_default_scope('mmdet3d')


# ----------------------------------------------------------------------------- helpers
def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def assert_same_state(before, module):
    after = module.state_dict()
    assert before.keys() == after.keys()
    for k, v in before.items():
        assert torch.equal(v, after[k]), f'{k} changed'


def build(cfg_model):
    model = MODELS.build(copy.deepcopy(cfg_model))
    model.init_weights()
    return model


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def mm_log():
    logger = MMLogger.get_current_instance()
    handler = _Records()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def pp(tmp_path_factory):
    """Cropped PointPillars 4x distillation config, teacher checkpoint and real batches."""
    item = kitti_frame(PP_CROP)
    cfg = kd_config(PP_KD, PP_CROP)
    ckpt = tmp_path_factory.mktemp('pp') / 'teacher.pth'
    teacher_state = save_random_teacher(cfg.model.teacher, ckpt)
    cfg.model.teacher_ckpt = str(ckpt)
    return dict(cfg=cfg, ckpt=ckpt, teacher_state=teacher_state, item=item,
                tmp=ckpt.parent)


def batch(item, copies=2):
    return pseudo_collate([copy.deepcopy(item) for _ in range(copies)])


def preprocess(model, data):
    out = model.data_preprocessor(data, True)
    return out['inputs'], out['data_samples']


# ----------------------------------------------------------------------------- tests
def test_train_steps_leave_teacher_bit_identical_and_train_student(pp):
    model = build(pp['cfg'].model)
    # the runner's init_weights() did not overwrite the loaded teacher
    for k, v in pp['teacher_state'].items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    model.train()
    assert not model.teacher.training
    assert not any(m.training for m in model.teacher.modules())
    assert model.student.training and model.distill_losses.training
    assert all(not p.requires_grad for p in model.teacher.parameters())

    teacher_before = snapshot(model.teacher)
    student_before = snapshot(model.student)
    adapters_before = snapshot(model.distill_losses)
    # the stock optimizer settings (AdamW, weight decay 0.01, grad clip); the teacher's
    # frozen parameters are in the param groups, as with mmengine's default constructor
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
        clip_grad=dict(max_norm=35, norm_type=2)))
    assert any(p is q for g in optim.param_groups for q in g['params']
               for p in model.teacher.parameters())
    logs = [model.train_step(batch(pp['item']), optim) for _ in range(2)]

    assert_same_state(teacher_before, model.teacher)  # weights AND BN running statistics
    assert not model.teacher.training
    plain = MODELS.build(copy.deepcopy(pp['cfg'].model.student))
    student_keys = set(plain.loss(*preprocess(plain, batch(pp['item']))).keys())
    for log in logs:
        assert set(log) == student_keys | {'loss_pd_pfn', 'loss'}
        assert all(math.isfinite(float(v)) for v in log.values())
        assert float(log['loss_pd_pfn']) > 0
    changed = [k for k, v in model.student.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, student_before[k])]
    assert 'voxel_encoder.pfn_layers.0.linear.weight' in changed
    assert 'bbox_head.conv_cls.weight' in changed
    # the default teacher side (design (c)) is a fixed identity: the optimizer (with its weight
    # decay) leaves it exactly as built; the student adapter trains
    after = model.distill_losses.pfn.state_dict()
    assert not torch.equal(adapters_before['pfn.student_adapter.conv.weight'],
                           after['student_adapter.conv.weight'])
    assert torch.equal(adapters_before['pfn.teacher_adapter.conv.weight'],
                       after['teacher_adapter.conv.weight'])
    assert torch.equal(after['teacher_adapter.conv.weight'], edge_identity_weight(64, local=True))
    # parameter names: student., teacher., distill_losses. -- and the teacher is saved
    prefixes = {k.split('.')[0] for k in model.state_dict()}
    assert prefixes == {'student', 'teacher', 'distill_losses'}


def test_gradients_reach_student_and_its_adapter_never_the_teacher_side(pp):
    model = build(pp['cfg'].model)
    model.train()
    inputs, samples = preprocess(model, batch(pp['item']))
    with recording_selections(model.distill_losses) as records:
        losses = model.loss(inputs, samples)
    # KD alone: reaches the tapped student module and the student adapter, nothing behind the
    # tap, and not the default's fixed teacher side (design (c))
    losses['loss_pd_pfn'].backward(retain_graph=True)
    pfn_grad = model.student.voxel_encoder.pfn_layers[0].linear.weight.grad
    assert pfn_grad is not None and pfn_grad.abs().sum() > 0
    g = model.distill_losses.pfn.student_adapter.conv.weight.grad
    assert g is not None and g.abs().sum() > 0
    assert model.distill_losses.pfn.teacher_adapter.conv.weight.grad is None
    assert all(p.grad is None for p in model.student.bbox_head.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())
    # the full loss: every student parameter gets a gradient, the teacher none
    total = sum(v if torch.is_tensor(v) else sum(v) for v in losses.values())
    total.backward()
    assert all(p.grad is not None for p in model.student.parameters())
    assert all(p.grad is None for p in model.teacher.parameters())
    assert len(records['pfn']) == 1 and len(records['pfn'][0]) == 2
    for sel in records['pfn'][0]:
        assert sel['index'].shape == (1000, ) and sel['weight'].shape == (1000, )
        assert sel['weight'].sum().item() == pytest.approx(1000, rel=1e-4)


def test_teacher_stops_at_deepest_tap_and_predict_runs_the_student_only(pp):
    model = build(pp['cfg'].model)
    calls = {}

    def count(name):

        def hook(*_):
            calls[name] = calls.get(name, 0) + 1

        return hook

    for who in ('teacher', 'student'):
        for sub in ('voxel_encoder', 'middle_encoder', 'backbone', 'bbox_head'):
            getattr(getattr(model, who), sub).register_forward_pre_hook(count(f'{who}.{sub}'))
    model.train()
    model.loss(*preprocess(model, batch(pp['item'])))
    assert calls == {'teacher.voxel_encoder': 1, 'student.voxel_encoder': 1,
                     'student.middle_encoder': 1, 'student.backbone': 1, 'student.bbox_head': 1}

    calls.clear()
    model.eval()
    data = batch(pp['item'], copies=1)
    with torch.no_grad():
        results = model.test_step(data)
        direct = model.student.predict(*[model.data_preprocessor(copy.deepcopy(data), False)[k]
                                         for k in ('inputs', 'data_samples')])
    assert not any(k.startswith('teacher') for k in calls)
    assert calls['student.bbox_head'] == 2
    assert len(results) == 1
    pred = results[0].pred_instances_3d
    assert set(pred.keys()) >= {'bboxes_3d', 'scores_3d', 'labels_3d'}
    assert pred.bboxes_3d.tensor.shape[1] == 7
    assert torch.equal(pred.scores_3d, direct[0].pred_instances_3d.scores_3d)
    with torch.no_grad():
        tensors = model._forward(*[model.data_preprocessor(copy.deepcopy(data), False)[k]
                                   for k in ('inputs', 'data_samples')])
    cls_scores = tensors[0][0]
    assert cls_scores.shape[:2] == (1, 18)  # 3 classes x 2 rotations x 3 anchor sizes


def test_teacher_norm_eval_false_reproduces_the_original_train_mode_teacher(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    assert cfg.teacher_fast_pfn  # the KITTI PointPillars base folds the teacher's PFN ...
    cfg.teacher_norm_eval = False
    with pytest.raises(ValueError, match='teacher_fast_pfn=True needs model.teacher_norm_eval'):
        build(copy.deepcopy(cfg))  # ... which needs the running statistics
    cfg.teacher_fast_pfn = False
    model = build(cfg)
    model.train()
    assert model.teacher.training  # follows the distiller, like the released code
    params = {k: v.clone() for k, v in model.teacher.named_parameters()}
    bn = model.teacher.voxel_encoder.pfn_layers[0].norm
    mean_before = bn.running_mean.clone()
    model.loss(*preprocess(model, batch(pp['item'])))
    assert not torch.equal(bn.running_mean, mean_before)  # batch statistics drift
    assert all(torch.equal(v, params[k]) for k, v in model.teacher.named_parameters())
    model.eval()
    assert not model.teacher.training


def test_distill_false_trains_exactly_the_plain_student(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    cfg.distill = False
    cfg.teacher_ckpt = None
    model = build(cfg)
    assert model.teacher is None and len(model.distill_losses) == 0
    assert {k.split('.')[0] for k in model.state_dict()} == {'student'}
    plain = MODELS.build(copy.deepcopy(pp['cfg'].model.student))
    plain.load_state_dict(model.student.state_dict(), strict=True)
    model.train()
    plain.train()
    data = batch(pp['item'])
    ours = model.loss(*preprocess(model, copy.deepcopy(data)))
    ref = plain.loss(*preprocess(plain, copy.deepcopy(data)))
    assert ours.keys() == ref.keys()
    for k in ref:
        a = ours[k] if torch.is_tensor(ours[k]) else torch.stack(ours[k])
        b = ref[k] if torch.is_tensor(ref[k]) else torch.stack(ref[k])
        assert torch.allclose(a, b), k


def _edit_loss(**kw):

    def edit(model_cfg):
        model_cfg.distill_cfg[0].loss.update(kw)

    return edit


def _edit_tap(**kw):

    def edit(model_cfg):
        model_cfg.distill_cfg[0].update(kw)

    return edit


@pytest.mark.parametrize('edit, exc, patterns', [
    (_edit_loss(teacher_channels=32), ValueError,
     [r'distill_cfg\[0\]\.loss\.teacher_channels=32', r"'voxel_encoder'", '64 channels']),
    (_edit_loss(student_channels=64), ValueError,
     [r'distill_cfg\[0\]\.loss\.student_channels=64', '32 channels']),
    (_edit_tap(module='voxel_encodr'), KeyError,
     [r'distill_cfg\[0\]\.module', "'voxel_encodr'", "did you mean \\['voxel_encoder'"]),
    (_edit_tap(student_module='backbone.blocks.9', module=None, teacher_module='voxel_encoder'),
     KeyError, [r'distill_cfg\[0\]\.student_module', "'backbone.blocks.9'"]),
    (_edit_tap(name='pfn.x'), ValueError, [r'distill_cfg\[0\]\.name']),
    (_edit_tap(unknown_key=1), KeyError, [r'distill_cfg\[0\] has unknown keys']),
])
def test_build_errors_name_the_config_key(pp, edit, exc, patterns):
    cfg = copy.deepcopy(pp['cfg'].model)
    edit(cfg)
    with pytest.raises(exc) as info:
        MODELS.build(cfg)
    for pattern in patterns:
        assert re.search(pattern, str(info.value)), str(info.value)


def test_voxel_setting_mismatch_names_the_fields(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    cfg.teacher.data_preprocessor.voxel_layer.voxel_size = [0.2, 0.2, 4]
    cfg.teacher.data_preprocessor.voxel_layer.max_num_points = 20
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    msg = str(info.value)
    assert 'teacher and student voxelization differ' in msg
    assert 'voxel_layer.voxel_size [0.2,0.2,4] vs [0.16,0.16,4]' in msg
    assert 'voxel_layer.max_num_points 20 vs 32' in msg


def test_teacher_checkpoint_missing_or_not_a_file(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    cfg.teacher_ckpt = None
    with pytest.raises(ValueError, match='teacher_ckpt is required when distill=True'):
        MODELS.build(cfg)
    cfg.teacher_ckpt = str(pp['tmp'] / 'nope.pth')
    with pytest.raises(FileNotFoundError, match=r"teacher_ckpt='.*nope\.pth' is not a file"):
        MODELS.build(cfg)


def test_checkpoint_of_a_different_architecture_is_refused(pp, tmp_path):
    # same keys, other widths: the PointPillars 4x student saved as if it were the teacher
    student = MODELS.build(copy.deepcopy(pp['cfg'].model.student))
    narrow = tmp_path / 'pp4x_student.pth'
    torch.save({'state_dict': student.state_dict()}, narrow)
    cfg = copy.deepcopy(pp['cfg'].model)
    cfg.teacher_ckpt = str(narrow)
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    assert str(narrow) in str(info.value) and 'size mismatch' in str(info.value)
    # other keys: a SECOND checkpoint
    second = MODELS.build(Config.fromfile(
        str(REPO / 'configs/_base_/students/second-16x_hv_secfpn_8xb6-80e_kitti-3d-3class.py')
    ).model)
    other = tmp_path / 'second.pth'
    torch.save({'state_dict': second.state_dict()}, other)
    cfg.teacher_ckpt = str(other)
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    msg = str(info.value)
    teacher_keys = set(pp['teacher_state'])
    missing = sorted(teacher_keys - set(second.state_dict()))
    unexpected = set(second.state_dict()) - teacher_keys
    assert str(other) in msg
    assert f'{len(missing)} missing keys' in msg and f'{len(unexpected)} unexpected keys' in msg
    assert missing[0] in msg  # the listed keys are the real ones


def test_save_random_teacher_is_seeded_with_non_trivial_bn_statistics(pp, tmp_path):
    teacher_cfg = pp['cfg'].model.teacher
    a = save_random_teacher(teacher_cfg, tmp_path / 'a.pth', seed=7)
    b = save_random_teacher(teacher_cfg, tmp_path / 'b.pth', seed=7)
    c = save_random_teacher(teacher_cfg, tmp_path / 'c.pth', seed=8)
    saved = torch.load(tmp_path / 'a.pth', weights_only=True)
    assert set(saved) == {'state_dict', 'meta'} and saved['state_dict'].keys() == a.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    var = [k for k in a if k.endswith('running_var')]
    assert len(var) > 5
    for k in var:
        assert 0.5 <= float(a[k].min()) and float(a[k].max()) <= 2.0, k
        assert not torch.equal(a[k], c[k]), k
        assert int(a[k.replace('running_var', 'num_batches_tracked')]) == 1000


def test_checkpoint_without_state_dict_wrapper_is_accepted(pp, tmp_path):
    bare = tmp_path / 'bare.pth'
    state = save_random_teacher(pp['cfg'].model.teacher, bare, wrap=False, seed=3)
    cfg = copy.deepcopy(pp['cfg'].model)
    cfg.teacher_ckpt = str(bare)
    model = MODELS.build(cfg)
    for k, v in state.items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    assert model.teacher._is_init


def test_non_finite_kd_term_is_skipped_with_a_warning(pp, mm_log, monkeypatch):
    model = build(pp['cfg'].model)
    with torch.no_grad():  # a teacher whose PFN produces NaN
        model.teacher.voxel_encoder.pfn_layers[0].linear.weight[0, 0] = float('nan')
    model.train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                            optimizer=dict(type='SGD', lr=0.01)))
    adapters = snapshot(model.distill_losses)
    log = model.train_step(batch(pp['item']), optim)
    assert float(log['loss_pd_pfn']) == 0.0
    assert math.isfinite(float(log['loss']))
    assert_same_state(adapters, model.distill_losses)  # zero gradient, SGD: untouched
    assert all(torch.isfinite(p).all() for p in model.student.parameters())
    warnings = [r.getMessage() for r in mm_log if r.levelno == logging.WARNING]
    assert any('teacher feature contains NaN/Inf for loss_pd_pfn' in w for w in warnings)

    # a non-finite loss value (finite features) is skipped the same way
    model = build(pp['cfg'].model)
    model.train()
    monkeypatch.setattr(model.distill_losses.pfn, 'forward',
                        lambda *a, **k: torch.tensor(float('inf')))
    inputs, samples = preprocess(model, batch(pp['item']))
    losses = model.loss(inputs, samples)
    assert losses['loss_pd_pfn'].item() == 0.0 and losses['loss_pd_pfn'].requires_grad
    losses['loss_pd_pfn'].backward()
    grad = model.distill_losses.pfn.student_adapter.conv.weight.grad
    assert grad is not None and torch.count_nonzero(grad) == 0
    assert any('KD loss is inf for loss_pd_pfn' in r.getMessage() for r in mm_log)


def test_runtime_feature_check_names_the_layout_key(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    # a tap whose width cannot be inferred at build time: checked on the first forward
    cfg.distill_cfg[0].update(module='middle_encoder')
    model = build(cfg)
    model.train()
    with pytest.raises(ValueError, match=r"distill_cfg\[0\]\.loss\.feature_layout='voxel' "
                                         r'expects 2-D features but teacher\.middle_encoder '
                                         r'gives shape \(2, 64, 248, 216\)'):
        model.loss(*preprocess(model, batch(pp['item'])))


def test_distill_cfg_as_mapping_and_same_module_taps(pp):
    cfg = copy.deepcopy(pp['cfg'].model)
    tap = cfg.distill_cfg[0]
    cfg.distill_cfg = {'pillars': dict(module=tap.module, loss=tap.loss)}
    model = MODELS.build(cfg)
    assert [t.name for t in model.taps] == ['pillars']
    assert isinstance(model.distill_losses['pillars'], PointDistillerLoss)
    assert isinstance(model, PointDistillerDetector)


# ----------------------------------------------------------------------------- other detectors
def _spconv_available():
    try:
        import spconv.pytorch  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(not _spconv_available(), reason='spconv is not installed (SECOND needs it)')
def test_second_real_frame_distill_step_and_predict(tmp_path):
    item = kitti_frame(SECOND_CROP)
    cfg = kd_config(SECOND_KD, SECOND_CROP)
    cfg.model.teacher_ckpt = str(tmp_path / 'second_teacher.pth')
    save_random_teacher(cfg.model.teacher, cfg.model.teacher_ckpt)
    model = build(cfg.model)
    teacher_before = snapshot(model.teacher)
    sparse_before = model.student.middle_encoder.conv_input[0].weight.detach().clone()
    calls = []
    model.teacher.neck.register_forward_hook(lambda *_: calls.append('neck'))
    model.train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                            optimizer=dict(type='AdamW', lr=1e-3)))
    with recording_selections(model.distill_losses) as records:
        log = model.train_step(pseudo_collate([item]), optim)
    assert {'loss_cls', 'loss_bbox', 'loss_dir', 'loss_pd_backbone_0',
            'loss_pd_backbone_1'} <= set(log)
    assert float(log['loss_pd_backbone_0']) > 0 and float(log['loss_pd_backbone_1']) > 0
    assert calls == []  # the teacher stopped after its backbone
    assert_same_state(teacher_before, model.teacher)
    for name in ('backbone_0', 'backbone_1'):
        sel = records[name][-1]
        assert len(sel) == 1 and sel[0]['index'].shape == (256, )
    # the step trained the student's sparse encoder (spconv backward on CPU)
    assert not torch.equal(sparse_before, model.student.middle_encoder.conv_input[0].weight)
    model.eval()
    with torch.no_grad():
        results = model.test_step(pseudo_collate([item]))
    assert results[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 7


def test_mvx_teacher_receives_input_metas(tmp_path):
    """nuScenes PointPillars (MVXFasterRCNN): extract_feat(inputs, metas), tap pts_neck[0]."""
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.structures import InstanceData
    crop = [-16.0, -16.0, -5.0, 16.0, 16.0, 3.0]

    def small(m):
        m.data_preprocessor.voxel_layer.point_cloud_range = crop
        m.pts_voxel_encoder.point_cloud_range = crop
        m.pts_middle_encoder.output_shape = [128, 128]
        m.pts_bbox_head.anchor_generator.ranges = [[-16, -16, -1.8, 16, 16, -1.8]]

    cfg = Config.fromfile(str(NUS_KD))
    teacher = load_teacher_config(cfg.model.teacher)
    small(cfg.model.student)
    small(teacher)
    cfg.model.teacher = teacher
    cfg.model.teacher_ckpt = str(tmp_path / 'nus_teacher.pth')
    save_random_teacher(teacher, cfg.model.teacher_ckpt)
    model = build(cfg.model)
    assert model._teacher_takes_metas
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(4000, 4, generator=g) * torch.tensor([30., 30., 6., 1.]) \
        - torch.tensor([15., 15., 4., 0.])  # x, y, z, intensity (HardVFE in_channels=4)
    sample = Det3DDataSample(metainfo=dict(box_type_3d=LiDARInstance3DBoxes))
    sample.gt_instances_3d = InstanceData(
        bboxes_3d=LiDARInstance3DBoxes(torch.tensor([[2., 3., -1., 4., 2., 1.5, 0.3, 0., 0.]]),
                                       box_dim=9),
        labels_3d=torch.tensor([0]))
    model.train()
    inputs, samples = preprocess(model, dict(inputs=dict(points=[pts]), data_samples=[sample]))
    with recording_selections(model.distill_losses) as records:
        losses = model.loss(inputs, samples)
    assert losses['loss_pd_fpn_0'].item() > 0
    assert {'loss_cls', 'loss_bbox', 'loss_dir'} <= set(losses)
    assert records['fpn_0'][-1][0]['index'].shape == (256, )


def test_pointrcnn_real_frame_distill_step_and_predict(tmp_path):
    """PointRCNN 16x with the KITTI config's N = 6000 on 8192 sampled points (stock: 16384;
    half the point-op cost on CPU, and N stays below the point count)."""
    item = kitti_frame([0, -40, -3, 70.4, 40, 1],
                       [dict(type='PointSample', num_points=8192, sample_range=40.0)])
    cfg = kd_config(RCNN_KD)
    cfg.model.teacher_ckpt = str(tmp_path / 'rcnn_teacher.pth')
    save_random_teacher(cfg.model.teacher, cfg.model.teacher_ckpt)
    model = build(cfg.model)
    teacher_before = snapshot(model.teacher)
    model.train()
    optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                            optimizer=dict(type='AdamW', lr=1e-3)))
    with recording_selections(model.distill_losses) as records:
        log = model.train_step(pseudo_collate([item]), optim)
    assert {'rpn_bbox_loss', 'rpn_semantic_loss', 'loss_cls', 'loss_pd_fp'} <= set(log)
    assert float(log['loss_pd_fp']) > 0
    assert_same_state(teacher_before, model.teacher)
    sel = records['fp'][-1]
    assert len(sel) == 1 and sel[0]['index'].shape == (6000, )
    assert int(sel[0]['index'].max()) < 8192
    model.eval()
    with torch.no_grad():
        results = model.test_step(pseudo_collate([item]))
    assert results[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 7
