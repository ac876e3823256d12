"""Bad-input catalogue of the distiller: each case fails (or degrades) with a clear message.

``CATALOGUE`` maps every case of the robustness issue to the tests that cover it; cases
already tested elsewhere are referenced, the rest are tested here. The real PointPillars 4x
distiller runs on the real KITTI frame 000008 (cropped to a 128 x 128 pillar grid).
"""
import ast
import copy
import logging
import math
import pickle
from pathlib import Path

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmdet3d_pointdistiller  # noqa: F401  registers modules, activates shims
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.compat import UnsafeCheckpointError
from mmdet3d_pointdistiller.models.losses import recording_selections
from mmdet3d_pointdistiller.testing import PicklePayload as _Payload
from mmdet3d_pointdistiller.testing import (build_model, frames, kitti_real_dir,
                                            small_distiller_cfg)

TESTS = Path(__file__).resolve().parent
KITTI_REAL = kitti_real_dir()
init_default_scope('mmdet3d')

CATALOGUE = {
    'missing teacher checkpoint': [
        'test_distiller.py::test_teacher_checkpoint_missing_or_not_a_file'],
    'corrupt teacher checkpoint': ['test_bad_input.py::test_corrupt_teacher_checkpoint'],
    'checkpoint of a different architecture (missing/unexpected keys listed)': [
        'test_distiller.py::test_checkpoint_of_a_different_architecture_is_refused'],
    'teacher/student channel mismatch in the config': [
        'test_distiller.py::test_build_errors_name_the_config_key',
        'test_distiller.py::test_runtime_feature_check_names_the_layout_key'],
    'teacher/student voxelization mismatch': [
        'test_distiller.py::test_voxel_setting_mismatch_names_the_fields'],
    'empty point cloud in a batch': [
        'test_bad_input.py::test_empty_point_cloud_is_dropped_with_a_warning',
        'test_bad_input.py::test_batch_of_empty_point_clouds_names_the_samples'],
    'fewer voxels than N or K': [
        'test_bad_input.py::test_fewer_voxels_than_queries_and_neighbours',
        'test_pointdistiller_loss.py::test_clamping_and_empty_sample',
        'test_pointdistiller_loss.py::test_bev_fewer_cells_than_queries_and_neighbors',
        'test_pointdistiller_loss.py::test_all_empty_batch_returns_connected_zero'],
    'NaN/Inf in teacher features or in the KD loss (step skipped, weights not poisoned)': [
        'test_distiller.py::test_non_finite_kd_term_is_skipped_with_a_warning',
        'test_bad_input.py::test_inf_teacher_feature_adamw_step_keeps_weights_finite',
        'test_distributed.py::test_kd_skip_on_one_rank_keeps_ddp_in_step'],
    'checkpoint carrying an unexpected pickled object (refused)': [
        'test_checkpoint_safety.py::test_arbitrary_pickled_object_is_refused',
        'test_bad_input.py::test_teacher_checkpoint_with_a_pickled_object_is_refused',
        'test_resume.py::test_resume_checkpoint_with_a_pickled_object_is_refused'],
    'resume/load_from checkpoint without teacher or adapter weights': [
        'test_resume.py::test_checkpoint_without_teacher_or_adapters_is_refused'],
    'teacher writing into the shared inputs (PillarFeatureNet legacy=True)': [
        'test_bad_input.py::test_teacher_does_not_modify_the_student_inputs'],
}


class _Records(logging.Handler):

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def warnings_log():
    handler = _Records()
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture(scope='module')
def small(tmp_path_factory):
    if not (KITTI_REAL / '000008.bin').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    tmp = tmp_path_factory.mktemp('bad_input')
    return dict(cfg=small_distiller_cfg(tmp), item=frames()[0], tmp=tmp)


pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def _losses(model, items):
    data = model.data_preprocessor(pseudo_collate(copy.deepcopy(items)), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    return {k: float(v) if torch.is_tensor(v) else [float(x) for x in v]
            for k, v in losses.items()}


# ----------------------------------------------------------------------------- catalogue
def test_catalogue_references_existing_tests():
    for case, refs in CATALOGUE.items():
        assert refs, case
        for ref in refs:
            file, name = ref.split('::')
            tree = ast.parse((TESTS / file).read_text())
            names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert name in names, f'{case}: {ref} does not exist'


# ----------------------------------------------------------------------------- checkpoints
@pytest.mark.parametrize('damage', ['truncated', 'garbage', 'empty'])
def test_corrupt_teacher_checkpoint(small, damage, tmp_path):
    good = Path(small['cfg'].model.teacher_ckpt).read_bytes()
    data = {'truncated': good[:len(good) // 2], 'garbage': b'not a checkpoint\n' * 64,
            'empty': b''}[damage]
    bad = tmp_path / f'{damage}.pth'
    bad.write_bytes(data)
    cfg = copy.deepcopy(small['cfg'].model)
    cfg.teacher_ckpt = str(bad)
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    msg = str(info.value)
    assert f'teacher_ckpt {bad} could not be read as a checkpoint' in msg
    assert 'corrupt or truncated' in msg


def test_teacher_checkpoint_with_a_pickled_object_is_refused(small, tmp_path):
    state = torch.load(small['cfg'].model.teacher_ckpt, weights_only=True)
    marker = tmp_path / 'code_ran'
    evil = tmp_path / 'evil_teacher.pth'
    torch.save({'state_dict': state['state_dict'], 'meta': {'x': _Payload(marker)}}, evil)
    pickle.loads(pickle.dumps(_Payload(marker)))  # the payload is real: unpickling runs it
    assert marker.exists()
    marker.unlink()
    cfg = copy.deepcopy(small['cfg'].model)
    cfg.teacher_ckpt = str(evil)
    with pytest.raises(UnsafeCheckpointError,
                       match=rf'model\.teacher_ckpt: refusing to load checkpoint {evil}'):
        MODELS.build(cfg)
    assert not marker.exists()


# ----------------------------------------------------------------------------- batches
def test_teacher_does_not_modify_the_student_inputs(small):
    """The distilled student sees exactly what the plain student sees.

    mmdet3d's PillarFeatureNet (``legacy=True``, the default) overwrites x/y of its input
    voxels with the pillar-centre offsets; the teacher runs first on the shared preprocessed
    batch, so without its own copy the student would train on already-offset voxels (and be
    tested on raw ones).
    """
    model = build_model(small['cfg'].model)
    assert model.teacher.voxel_encoder.legacy
    plain = MODELS.build(copy.deepcopy(small['cfg'].model.student))
    plain.load_state_dict(model.student.state_dict(), strict=True)
    plain.train()
    data = model.data_preprocessor(pseudo_collate([copy.deepcopy(small['item'])]), True)
    voxels = data['inputs']['voxels']['voxels'].clone()
    with torch.no_grad():
        model._teacher_features(data['inputs'], data['data_samples'])
    assert torch.equal(data['inputs']['voxels']['voxels'], voxels)
    ours = _losses(model, [small['item']])
    ref = _losses(plain, [small['item']])
    assert set(ours) == set(ref) | {'loss_pd_pfn'}
    for key, value in ref.items():
        assert ours[key] == value, key


def _empty_like(item):
    empty = copy.deepcopy(item)
    empty['inputs']['points'] = empty['inputs']['points'][:0]
    return empty


def _outside_range(item):
    """Points present, but none inside the voxelization range (-> no voxel)."""
    far = copy.deepcopy(item)
    far['inputs']['points'] = far['inputs']['points'][:100].clone()
    far['inputs']['points'][:, 0] -= 200.0
    return far


@pytest.mark.parametrize('position', ['last', 'first'])
@pytest.mark.parametrize('make_empty', [_empty_like, _outside_range])
def test_empty_point_cloud_is_dropped_with_a_warning(small, warnings_log, position,
                                                     make_empty):
    model = build_model(small['cfg'].model)
    item = small['item']
    alone = _losses(model, [item])
    batch = [item, make_empty(item)] if position == 'last' else [make_empty(item), item]
    with recording_selections(model.distill_losses) as records:
        losses = _losses(model, batch)
    # exactly the batch without the empty sample (mmdet3d alone fails on an empty last sample)
    assert losses == alone
    assert losses['loss_pd_pfn'] > 0
    empty_index = 1 if position == 'last' else 0
    idx = item['data_samples'].metainfo['sample_idx']
    expected = ('dropped from this training batch, without voxels (no point inside the '
                f'voxelization range): sample {empty_index} (sample_idx={idx}, lidar_path=')
    assert any(expected in w and '000008.bin' in w for w in warnings_log), warnings_log
    sel = records['pfn'][-1]
    assert len(records['pfn']) == 1 and len(sel) == 1 and sel[0]['index'].numel() == 200


def test_batch_of_empty_point_clouds_names_the_samples(small):
    model = build_model(small['cfg'].model)
    empty = _empty_like(small['item'])
    idx = small['item']['data_samples'].metainfo['sample_idx']
    with pytest.raises(ValueError, match=r'every sample of the batch has no voxels .*: '
                                         rf'sample 0 \(sample_idx={idx}, .*000008\.bin\); '
                                         r'sample 1 '):
        _losses(model, [empty, copy.deepcopy(empty)])


def test_fewer_voxels_than_queries_and_neighbours(small):
    """The shipped N=1000, K=128 on a sample with fewer than K pillars (and a full one)."""
    cfg = copy.deepcopy(small['cfg'].model)
    cfg.distill_cfg[0].loss.update(num_queries=1000, num_neighbors=128)
    model = build_model(cfg)
    sparse = copy.deepcopy(small['item'])
    gen = torch.Generator().manual_seed(0)
    pts = sparse['inputs']['points']
    sparse['inputs']['points'] = pts[torch.randperm(len(pts), generator=gen)[:90]]
    data = model.data_preprocessor(pseudo_collate([sparse, copy.deepcopy(small['item'])]), True)
    coors = data['inputs']['voxels']['coors']
    m_b = torch.bincount(coors[:, 0].long()).tolist()
    assert m_b[0] < 128 < 1000 < m_b[1]
    with recording_selections(model.distill_losses) as records:
        losses = model.loss(data['inputs'], data['data_samples'])
    kd = losses['loss_pd_pfn']
    assert math.isfinite(kd.item()) and kd.item() > 0
    sel = records['pfn'][-1]
    assert [s['index'].numel() for s in sel] == [m_b[0], 1000]  # N_b = min(N, M_b)
    assert set(sel[0]['index'].tolist()) == set(torch.nonzero(coors[:, 0] == 0)[:, 0].tolist())
    assert sel[0]['weight'].sum().item() == pytest.approx(m_b[0], rel=1e-5)
    kd.backward()
    adapter = model.distill_losses['pfn'].student_adapter.conv.weight
    assert adapter.grad is not None and torch.isfinite(adapter.grad).all()
    assert adapter.grad.abs().sum() > 0


def test_inf_teacher_feature_adamw_step_keeps_weights_finite(small, warnings_log):
    model = build_model(small['cfg'].model)
    optim = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
        clip_grad=dict(max_norm=35, norm_type=2)))
    handle = model.teacher.voxel_encoder.register_forward_hook(
        lambda mod, args, out: out.masked_fill(torch.rand_like(out) < 0.01, float('inf')),
        prepend=True)
    adapters = {k: v.clone() for k, v in model.distill_losses.state_dict().items()}
    log = model.train_step(pseudo_collate([copy.deepcopy(small['item'])]), optim)
    handle.remove()
    assert log['loss_pd_pfn'].item() == 0.0 and math.isfinite(log['loss'].item())
    assert any('teacher feature contains NaN/Inf for loss_pd_pfn' in w for w in warnings_log)
    for name, param in model.named_parameters():
        assert torch.isfinite(param).all(), name
    # the adapters got zero gradients: AdamW's step is pure weight decay, BN stats untouched
    after = model.distill_losses.state_dict()
    for key, before in adapters.items():
        if key.endswith('conv.weight'):
            torch.testing.assert_close(after[key], before * (1 - 1e-3 * 0.01))
        elif 'running' in key or 'num_batches' in key:
            assert torch.equal(after[key], before), key
    # the next step, with a finite teacher, trains the adapters again
    log = model.train_step(pseudo_collate([copy.deepcopy(small['item'])]), optim)
    assert log['loss_pd_pfn'].item() > 0
    assert not torch.equal(model.distill_losses.state_dict()['pfn.student_adapter.bn.running_mean'],
                           adapters['pfn.student_adapter.bn.running_mean'])
