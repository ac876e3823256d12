"""Tests of PointDistillerLoss against the dense reference and hand-computed values."""
import itertools
import json
import math
import os
import re
import subprocess
import sys
import textwrap

import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.losses import PointDistillerLoss, chunked_feature_knn
from mmdet3d_pointdistiller.testing.dense_reference import (DenseAdapter,
                                                            dense_batchwide_reference,
                                                            dense_pointdistiller_loss,
                                                            dense_reference_from_module,
                                                            square_distance)

C_T, C_S, C_P = 6, 4, 5  # teacher, student, adapter channels


pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def make_module(seed=0, dtype=torch.float64, **kwargs):
    """A module with random (non-default) adapter parameters and running statistics."""
    cfg = dict(teacher_channels=C_T, student_channels=C_S, adapter_channels=C_P,
               num_queries=10, num_neighbors=6)
    cfg.update(kwargs)
    module = PointDistillerLoss(**cfg).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for adapter in (module.teacher_adapter, module.student_adapter):
            adapter.conv.weight.copy_(torch.randn(adapter.conv.weight.shape, generator=gen))
            if adapter.conv.bias is not None:
                adapter.conv.bias.copy_(torch.randn(adapter.conv.bias.shape, generator=gen))
            bn = adapter.norm
            if bn is not None and bn.affine:
                bn.weight.copy_(torch.rand(C_P, generator=gen) + 0.5)
                bn.bias.copy_(torch.randn(C_P, generator=gen) * 0.5)
            if bn is not None and bn.track_running_stats:
                bn.running_mean.copy_(torch.randn(C_P, generator=gen))
                bn.running_var.copy_(torch.rand(C_P, generator=gen) + 0.5)
    return module


def voxel_inputs(sizes=(30, 17, 45), seed=0, dtype=torch.float64, ties=False):
    """Shuffled voxel rows of len(sizes) samples: teacher (M, C_T), student (M, C_S)."""
    gen = torch.Generator().manual_seed(seed)
    batch_idx = torch.cat([torch.full((m, ), b, dtype=torch.long) for b, m in enumerate(sizes)])
    perm = torch.randperm(batch_idx.numel(), generator=gen)
    batch_idx = batch_idx[perm]
    m = batch_idx.numel()
    teacher = torch.randn(m, C_T, generator=gen, dtype=dtype)
    student = torch.randn(m, C_S, generator=gen, dtype=dtype).requires_grad_()
    if ties:
        num_points = torch.randint(1, 4, (m, ), generator=gen)
    else:  # distinct counts
        num_points = torch.randperm(m, generator=gen) + 1
    return teacher, student, batch_idx, num_points


def map_inputs(layout, batch=2, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    spatial = (5, 7) if layout == 'bev' else (33, )
    teacher = torch.randn((batch, C_T) + spatial, generator=gen, dtype=dtype)
    student = torch.randn((batch, C_S) + spatial, generator=gen, dtype=dtype).requires_grad_()
    return teacher, student


def assert_matches_dense(module, teacher, student, batch_idx=None, num_points=None, atol=1e-10,
                         reference=dense_reference_from_module):
    """Loss, gradients, selection and BN running stats of module == dense reference.

    Returns ``(loss, ref, selection)``: the module's loss, the reference and the module's
    recorded per-sample selection."""
    ref, ref_t, ref_s = reference(module, teacher, student, batch_idx, num_points)
    with module.recording_selection() as records:
        loss = module(teacher, student, batch_idx, num_points)
    assert len(records) == 1
    selection = records[0]
    assert loss.dim() == 0
    torch.testing.assert_close(loss, ref.loss, atol=atol, rtol=1e-9)
    params = [student] + list(module.parameters())
    grads = torch.autograd.grad(loss, params)
    ref_grads = torch.autograd.grad(ref.loss, params)
    names = ['student_feat'] + [n for n, _ in module.named_parameters()]
    for name, g, rg in zip(names, grads, ref_grads):
        torch.testing.assert_close(g, rg, atol=atol, rtol=1e-8, msg=f'gradient of {name}')
    assert len(selection) == len(ref.selection)
    for sel, ref_sel in zip(selection, ref.selection):
        assert torch.equal(sel['index'], ref_sel['index'])
        torch.testing.assert_close(sel['weight'], ref_sel['weight'], atol=1e-10, rtol=1e-9)
        assert not sel['weight'].requires_grad
    for adapter, dense in ((module.teacher_adapter, ref_t), (module.student_adapter, ref_s)):
        if adapter.with_norm and adapter.norm.track_running_stats:
            torch.testing.assert_close(adapter.norm.running_mean, dense.running_mean,
                                       atol=1e-12, rtol=1e-10)
            torch.testing.assert_close(adapter.norm.running_var, dense.running_var,
                                       atol=1e-12, rtol=1e-10)
            assert int(adapter.norm.num_batches_tracked) == int(dense.num_batches_tracked)
    return loss, ref, selection


CASES = [
    dict(feature_layout='voxel', score='num_points'),
    dict(feature_layout='voxel', score='teacher_max'),
    dict(feature_layout='bev', score='teacher_max'),
    dict(feature_layout='point', score='teacher_max'),
]


@pytest.mark.parametrize('case,reweight,local,pool,chunk,train,fused', [
    (c, rw, lo, po, ch, tr, fu)
    for c, rw, lo, po, ch, tr, fu in itertools.product(
        CASES, (True, False), (True, False), ('none', 'max'), (1, 3, 7, 1024), (True, False),
        (True, False))
    # pool/chunk are irrelevant without the graph; the unfused path only with one chunk size
    if (lo or (po == 'none' and ch == 1024 and fu)) and (fu or ch == 3)
])
def test_matches_dense_reference(case, reweight, local, pool, chunk, train, fused):
    module = make_module(reweight=reweight, local=local, pool=pool, knn_chunk_size=chunk,
                         temperature=0.7, loss_weight=2.0, **case)
    module.train(train)
    module.fused = fused
    if case['feature_layout'] == 'voxel':
        teacher, student, batch_idx, num_points = voxel_inputs()
        loss, _, _ = assert_matches_dense(module, teacher, student, batch_idx, num_points)
    else:
        teacher, student = map_inputs(case['feature_layout'])
        loss, _, _ = assert_matches_dense(module, teacher, student)
    assert loss.item() > 0


def test_matches_dense_reference_twice_momentum_none():
    """Two training steps: running stats accumulate exactly (also with momentum=None)."""
    module = make_module(norm_cfg=dict(type='BN2d', momentum=None))
    teacher, student, batch_idx, num_points = voxel_inputs()
    t_ref = DenseAdapter.from_conv_module(module.teacher_adapter)
    s_ref = DenseAdapter.from_conv_module(module.student_adapter)
    kw = dict(feature_layout='voxel', num_queries=10, num_neighbors=6, score='num_points',
              temperature=1.0, reweight=True, local=True, pool='none', loss_weight=1.0,
              training=True, batch_idx=batch_idx, num_points=num_points)
    for _ in range(2):
        ref = dense_pointdistiller_loss(teacher, student, t_ref, s_ref, **kw)
        loss = module(teacher, student, batch_idx, num_points)
        torch.testing.assert_close(loss, ref.loss)
    assert int(module.teacher_adapter.norm.num_batches_tracked) == 2
    torch.testing.assert_close(module.teacher_adapter.norm.running_var, t_ref.running_var)
    torch.testing.assert_close(module.student_adapter.norm.running_mean, s_ref.running_mean)


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('act_cfg', [None, dict(type='ReLU')])
def test_no_norm_with_bias_matches_dense(act_cfg, fused):
    module = make_module(norm_cfg=None, act_cfg=act_cfg, knn_chunk_size=4)
    module.fused = fused
    assert module.teacher_adapter.conv.bias is not None
    teacher, student, batch_idx, num_points = voxel_inputs()
    assert_matches_dense(module, teacher, student, batch_idx, num_points)


def test_bn_without_affine_or_running_stats_matches_dense():
    module = make_module(norm_cfg=dict(type='BN2d', affine=False, track_running_stats=False))
    teacher, student, batch_idx, num_points = voxel_inputs()
    assert_matches_dense(module, teacher, student, batch_idx, num_points)
    module.eval()  # no running stats: batch statistics in eval mode too
    assert_matches_dense(module, teacher, student, batch_idx, num_points)


def test_unfusable_adapters_use_autograd_path():
    """LeakyReLU(0) == ReLU through the unfused path; SyncBN is not fused either."""
    relu = make_module(seed=1)
    leaky = make_module(seed=1, act_cfg=dict(type='LeakyReLU', negative_slope=0.0))
    assert relu._fusable() and not leaky._fusable()
    assert not make_module(norm_cfg=dict(type='SyncBN'))._fusable()
    teacher, student, batch_idx, num_points = voxel_inputs()
    loss_r = relu(teacher, student, batch_idx, num_points)
    loss_l = leaky(teacher, student, batch_idx, num_points)
    torch.testing.assert_close(loss_l, loss_r)
    g_r = torch.autograd.grad(loss_r, relu.student_adapter.conv.weight)
    g_l = torch.autograd.grad(loss_l, leaky.student_adapter.conv.weight)
    torch.testing.assert_close(g_l, g_r)
    torch.testing.assert_close(leaky.teacher_adapter.norm.running_var,
                               relu.teacher_adapter.norm.running_var)


def test_score_ties_match_dense():
    module = make_module()
    teacher, student, batch_idx, num_points = voxel_inputs(ties=True)
    assert_matches_dense(module, teacher, student, batch_idx, num_points)


def test_hand_computed_loss():
    """Two elements, no BN/activation, unit weights: checks module AND reference by hand."""
    module = PointDistillerLoss(2, 1, 1, num_queries=2, num_neighbors=2, norm_cfg=None,
                                act_cfg=None, temperature=2.0, loss_weight=2.0).double()
    with torch.no_grad():
        module.teacher_adapter.conv.weight.copy_(torch.ones(1, 4, 1, 1))  # [nbr(2), ctr(2)]
        module.teacher_adapter.conv.bias.zero_()
        module.student_adapter.conv.weight.copy_(torch.tensor([1., 2.]).view(1, 2, 1, 1))
        module.student_adapter.conv.bias.zero_()
    teacher = torch.tensor([[1., 0.], [0., 2.]], dtype=torch.float64)
    student = torch.tensor([[1.], [3.]], dtype=torch.float64)
    batch_idx = torch.zeros(2, dtype=torch.long)
    num_points = torch.tensor([5, 2])
    # query 0 (5 points): edges cat(x0,x0), cat(x1,x0): G_T = [2, 3], G_S = [1+2, 3+2] = [3, 5]
    # query 1 (2 points): edges cat(x1,x1), cat(x0,x1): G_T = [4, 3], G_S = [3+6, 1+6] = [9, 7]
    mse = torch.tensor([(1 + 4) / 2, (25 + 16) / 2], dtype=torch.float64)
    weight = 2 * torch.softmax(torch.tensor([5., 2.], dtype=torch.float64) / 2.0, dim=0)
    expected = 2.0 * (weight * mse).sum() / 2
    with module.recording_selection() as records:
        loss = module(teacher, student, batch_idx, num_points)
    ref, _, _ = dense_reference_from_module(module, teacher, student, batch_idx, num_points)
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(ref.loss, expected)
    assert records[0][0]['index'].tolist() == [0, 1]
    torch.testing.assert_close(records[0][0]['weight'], weight)


@pytest.mark.parametrize('local,pool,fused', [(True, 'none', True), (True, 'max', True),
                                              (True, 'none', False), (True, 'max', False),
                                              (False, 'none', False)])
@pytest.mark.parametrize('train', [True, False])
def test_clamping_and_empty_sample(local, pool, fused, train):
    """Samples with M_b < N and M_b < K (ragged K_b) and an empty sample in the middle."""
    module = make_module(local=local, pool=pool, knn_chunk_size=4)
    module.train(train)
    module.fused = fused
    teacher, student, batch_idx, num_points = voxel_inputs(sizes=(30, 0, 4, 8, 2))
    loss, ref, selection = assert_matches_dense(module, teacher, student, batch_idx, num_points)
    n_b = [sel['index'].numel() for sel in selection]
    assert n_b == [10, 0, 4, 8, 2]
    if local:
        assert [None if k is None else tuple(k.shape) for k in ref.knn] == \
            [(10, 6), None, (4, 4), (8, 6), (2, 2)]
    for b, (sel, n) in enumerate(zip(selection, n_b)):
        assert torch.isclose(sel['weight'].sum(), torch.tensor(float(n), dtype=torch.float64))
        assert torch.all(batch_idx[sel['index']] == b)


def test_bev_fewer_cells_than_queries_and_neighbors():
    module = make_module(feature_layout='bev', score='teacher_max', num_queries=50,
                         num_neighbors=40)
    teacher = torch.randn(2, C_T, 3, 4, dtype=torch.float64)
    student = torch.randn(2, C_S, 3, 4, dtype=torch.float64, requires_grad=True)
    _, _, selection = assert_matches_dense(module, teacher, student)
    assert [s['index'].numel() for s in selection] == [12, 12]


def test_weights_sum_and_selection_per_sample():
    module = make_module(num_queries=8, temperature=0.5)
    teacher, student, batch_idx, num_points = voxel_inputs(sizes=(20, 12, 9))
    with module.recording_selection() as records:
        module(teacher, student, batch_idx, num_points)
    for b, sel in enumerate(records[0]):
        idx = sel['index']
        assert idx.numel() == 8
        assert torch.all(batch_idx[idx] == b)
        # the 8 largest counts of sample b, weights N_b * softmax(count / tau)
        rows = torch.nonzero(batch_idx == b).view(-1)
        top = rows[num_points[rows].topk(8).indices]
        assert set(idx.tolist()) == set(top.tolist())
        expected = 8 * torch.softmax(num_points[idx].double() / 0.5, dim=0)
        torch.testing.assert_close(sel['weight'], expected)
        assert math.isclose(sel['weight'].sum().item(), 8.0, rel_tol=1e-9)


def test_uniform_weights_without_reweight():
    module = make_module(reweight=False, feature_layout='point', score='teacher_max')
    teacher, student = map_inputs('point')
    with module.recording_selection() as records:
        module(teacher, student)
    for sel in records[0]:
        assert torch.equal(sel['weight'], torch.ones(10, dtype=torch.float64))


def test_teacher_gets_no_grad_and_student_does():
    module = make_module()
    teacher, student, batch_idx, num_points = voxel_inputs()
    teacher.requires_grad_()
    module(teacher, student, batch_idx, num_points).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize('fused', [True, False])
def test_frozen_teacher_adapter_gets_no_grad_and_same_value(fused):
    """teacher_adapter_trainable=False: same loss value, gamma_T without gradient or update."""
    teacher, student, batch_idx, num_points = voxel_inputs()
    trainable = make_module()
    frozen = make_module(teacher_adapter_trainable=False)
    trainable.fused = frozen.fused = fused
    student = student.requires_grad_()
    value = frozen(teacher, student, batch_idx, num_points)
    torch.testing.assert_close(value, trainable(teacher, student, batch_idx, num_points))
    before = {k: v.clone() for k, v in frozen.teacher_adapter.named_parameters()}
    optim = torch.optim.SGD([p for p in frozen.parameters() if p.requires_grad], lr=0.1)
    value.backward()
    optim.step()
    assert all(not p.requires_grad and p.grad is None
               for p in frozen.teacher_adapter.parameters())
    assert all(torch.equal(p, before[k]) for k, p in frozen.teacher_adapter.named_parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in frozen.student_adapter.parameters())
    assert student.grad is not None and student.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='teacher_adapter_trainable must be a bool'):
        make_module(teacher_adapter_trainable='no')


@pytest.mark.parametrize('layout', ['voxel', 'bev'])
def test_all_empty_batch_returns_connected_zero(layout):
    if layout == 'voxel':
        module = make_module()
        teacher = torch.zeros(0, C_T, dtype=torch.float64)
        student = torch.zeros(0, C_S, dtype=torch.float64, requires_grad=True)
        args = (torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    else:
        module = make_module(feature_layout='bev', score='teacher_max')
        teacher = torch.zeros(2, C_T, 0, 4, dtype=torch.float64)
        student = torch.zeros(2, C_S, 0, 4, dtype=torch.float64, requires_grad=True)
        args = ()
    with module.recording_selection() as records:
        loss = module(teacher, student, *args)
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert student.grad is not None and student.grad.shape == student.shape
    for param in module.parameters():
        assert param.grad is not None and torch.all(param.grad == 0)
    assert len(records) == 1 and all(s['index'].numel() == 0 for s in records[0])


def test_single_edge_in_training_is_zero_but_eval_works():
    """BN batch statistics are undefined for one position: zero loss in train, value in eval."""
    module = make_module(num_queries=1, num_neighbors=1)
    teacher, student, batch_idx, num_points = voxel_inputs(sizes=(1, ))
    loss = module(teacher, student, batch_idx, num_points)
    assert loss.item() == 0 and loss.requires_grad
    module.eval()
    assert_matches_dense(module, teacher, student, batch_idx, num_points)


@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('pool', ['none', 'max'])
def test_matches_dense_at_moderate_size(pool, train):
    """Two samples of 2000/1500 elements, N=150, K=64, 9600 edges per chunk, float64."""
    module = make_module(num_queries=150, num_neighbors=64, knn_chunk_size=150, pool=pool)
    module.train(train)
    teacher, student, batch_idx, num_points = voxel_inputs(sizes=(2000, 1500), seed=4)
    assert_matches_dense(module, teacher, student, batch_idx, num_points, atol=1e-9)


def test_knn_contains_centre_first_and_matches_dense():
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(57, 5, generator=gen, dtype=torch.float64)
    query = torch.randperm(57, generator=gen)[:23]
    for chunk in (1, 5, 23, 100):
        knn = chunked_feature_knn(feats, query, 9, chunk)
        assert knn.shape == (23, 9)
        assert torch.equal(knn[:, 0], query)
        dist = square_distance(feats[query], feats)
        dist[torch.arange(23), query] = -1
        dense = dist.topk(9, largest=False).indices
        assert torch.equal(knn, dense)
    # duplicate features (e.g. empty BEV cells): the centre is still node 0
    zeros = torch.zeros(10, 3)
    knn = chunked_feature_knn(zeros, torch.tensor([4, 7]), 3, 1)
    assert knn[:, 0].tolist() == [4, 7]
    assert all(len(set(row)) == 3 for row in knn.tolist())


def test_state_dict_is_plain_convmodule():
    module = PointDistillerLoss(64, 32, 32, 6000, 128)
    sd = module.state_dict()
    assert tuple(sd['teacher_adapter.conv.weight'].shape) == (32, 128, 1, 1)
    assert tuple(sd['student_adapter.conv.weight'].shape) == (32, 64, 1, 1)
    assert 'teacher_adapter.conv.bias' not in sd
    assert {'teacher_adapter.bn.weight', 'teacher_adapter.bn.running_var',
            'student_adapter.bn.num_batches_tracked'} <= set(sd)
    no_graph = PointDistillerLoss(64, 32, 16, 10, 4, local=False)
    assert tuple(no_graph.teacher_adapter.conv.weight.shape) == (16, 64, 1, 1)
    assert tuple(no_graph.student_adapter.conv.weight.shape) == (16, 32, 1, 1)


def test_build_from_registry():
    module = MODELS.build(dict(type='PointDistillerLoss', teacher_channels=128,
                               student_channels=45, adapter_channels=45, num_queries=6000,
                               num_neighbors=128, feature_layout='point', score='teacher_max',
                               pool='max', loss_weight=2.0))
    assert isinstance(module, PointDistillerLoss)
    assert module.pool == 'max' and module.loss_weight == 2.0


def test_float32_autocast_computes_in_float32():
    module = make_module(dtype=torch.float32)
    teacher, student, batch_idx, num_points = voxel_inputs(dtype=torch.float32)
    t16, s16 = teacher.bfloat16(), student.detach().bfloat16().requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = module(t16, s16, batch_idx, num_points)
    assert loss.dtype == torch.float32
    loss.backward()
    assert s16.grad is not None and s16.grad.dtype == torch.bfloat16
    module2 = make_module(dtype=torch.float64)
    ref = module2(t16.double(), s16.detach().double(), batch_idx, num_points)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)


def test_nonfinite_input_flows_to_loss():
    module = make_module()
    teacher, student, batch_idx, num_points = voxel_inputs()
    student = student.detach().clone()
    student[torch.nonzero(batch_idx == 0)[0, 0]] = float('nan')
    student.requires_grad_()
    # the NaN row may or may not be selected; make it the top-count voxel of sample 0
    num_points = num_points.clone()
    num_points[torch.nonzero(batch_idx == 0)[0, 0]] = 10**6
    loss = module(teacher, student, batch_idx, num_points)
    assert not torch.isfinite(loss)


@pytest.mark.parametrize('kwargs,message', [
    (dict(feature_layout='grid'), "feature_layout must be one of ('voxel', 'bev', 'point')"),
    (dict(feature_layout='bev'), "score='num_points' is only available for feature_layout='voxel'"),
    (dict(score='random'), 'score must be one of'),
    (dict(pool='mean'), 'pool must be one of'),
    (dict(sampling='scene'), "sampling must be one of ('sample', 'batch')"),
    (dict(num_queries=0), 'num_queries must be a positive integer'),
    (dict(num_neighbors=-1), 'num_neighbors must be a positive integer'),
    (dict(num_neighbors=2.5), 'num_neighbors must be a positive integer'),
    (dict(temperature=0.0), 'temperature must be a finite number > 0'),
    (dict(temperature=float('inf')), 'temperature must be a finite number > 0'),
    (dict(loss_weight=-1.0), 'loss_weight must be a finite number >= 0'),
    (dict(knn_chunk_size=0), 'knn_chunk_size must be a positive integer'),
    (dict(reweight=1), 'reweight must be a bool'),
    (dict(norm_cfg=dict(type='GN', num_groups=1)), 'norm_cfg must build a 2-D batch-norm layer'),
    (dict(norm_cfg=dict(type='BN1d')), 'norm_cfg must build a 2-D batch-norm layer'),
])
def test_init_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_module(**kwargs)


def test_forward_errors():
    module = make_module()
    teacher, student, batch_idx, num_points = voxel_inputs()
    with pytest.raises(ValueError, match=f'teacher_feat has 8 channels but teacher_channels={C_T}'):
        module(torch.randn(teacher.shape[0], 8), student, batch_idx, num_points)
    with pytest.raises(ValueError, match=f'student_feat has 3 channels but student_channels={C_S}'):
        module(teacher, torch.randn(teacher.shape[0], 3), batch_idx, num_points)
    with pytest.raises(ValueError,
                       match=r"batch_idx \(M,\) is required for feature_layout='voxel'"):
        module(teacher, student, None, num_points)
    with pytest.raises(ValueError, match='batch_idx must be an integer Tensor of shape'):
        module(teacher, student, batch_idx[:-1], num_points)
    with pytest.raises(ValueError, match="num_points .* is required with score='num_points'"):
        module(teacher, student, batch_idx)
    with pytest.raises(ValueError, match='same elements'):
        module(teacher[:-1], student, batch_idx, num_points)
    with pytest.raises(ValueError, match=r"expects teacher_feat of shape \(M, C\)"):
        module(teacher[None], student, batch_idx, num_points)
    with pytest.raises(ValueError, match='must be non-negative sample indices'):
        module(teacher, student, batch_idx - 1, num_points)
    with pytest.raises(ValueError, match='student_feat must be a floating-point Tensor'):
        module(teacher, student.long(), batch_idx, num_points)
    with pytest.raises(TypeError, match='adapters must be float32 or float64'):
        make_module(dtype=torch.float16)(teacher.half(), student.half(), batch_idx, num_points)
    bev = make_module(feature_layout='bev', score='teacher_max')
    with pytest.raises(ValueError, match='same elements'):
        bev(torch.randn(2, C_T, 5, 7), torch.randn(2, C_S, 5, 6))
    with pytest.raises(ValueError, match=r'expects student_feat of shape \(B, C, H, W\)'):
        bev(torch.randn(2, C_T, 5, 7), torch.randn(2, C_S, 35))


# ---------------------------------------------------------------------------------------
# Paper-scale memory / time comparison (PointPillars 4x: M=12000, N=6000, K=128).
_BENCH = textwrap.dedent('''
    import json, resource, sys, time, torch
    from mmdet3d_pointdistiller.models.losses import PointDistillerLoss
    from mmdet3d_pointdistiller.testing.dense_reference import dense_reference_from_module
    mode, m, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.manual_seed(0)
    module = PointDistillerLoss(64, 32, 32, n, k, temperature=0.01, loss_weight=2.0)
    teacher = torch.randn(m, 64).relu()
    student = torch.randn(m, 32).requires_grad_()
    batch_idx = torch.zeros(m, dtype=torch.long)
    num_points = torch.randint(1, 33, (m,))
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if mode in ('chunked', 'unfused'):
        module.fused = mode == 'chunked'
        loss = module(teacher, student, batch_idx, num_points)
    else:
        loss = dense_reference_from_module(module, teacher, student, batch_idx, num_points)[0].loss
    t1 = time.perf_counter()
    loss.backward()
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(mode=mode, loss=loss.item(), forward_s=t1 - t0, backward_s=t2 - t1,
                          peak_rss_mb=peak / 1024, delta_rss_mb=(peak - base) / 1024)))
''')


def run_bench(mode, m=12000, n=6000, k=128, threads=1):
    """Forward+backward of one sample in a fresh process; peak RSS from getrusage."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, '-c', _BENCH, mode, str(m), str(n), str(k)],
                         check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_paper_scale_chunked_beats_dense():
    """PointPillars-4x scale, one thread (robust to a loaded machine); ~30 s."""
    dense = run_bench('dense')
    chunked = run_bench('chunked')
    print(json.dumps(dict(dense=dense, chunked=chunked), indent=1))
    assert math.isclose(dense['loss'], chunked['loss'], rel_tol=1e-5)
    assert chunked['delta_rss_mb'] * 4 < dense['delta_rss_mb']
    assert (chunked['forward_s'] + chunked['backward_s']) * 2 < \
        dense['forward_s'] + dense['backward_s']


# ---------------------------------------------------------------- sampling='batch' (released code)
@pytest.mark.parametrize('case,reweight,local,train,fused', [
    (c, rw, lo, tr, fu) for c, rw, lo, tr, fu in itertools.product(
        CASES, (True, False), (True, False), (True, False), (True, False))
    if lo or fu
])
def test_batch_sampling_matches_dense_batchwide_reference(case, reweight, local, train, fused):
    """One pool of all elements of the batch: loss, gradients, per-sample selection and BN
    statistics equal the dense reference run on the merged batch."""
    module = make_module(reweight=reweight, local=local, knn_chunk_size=3, temperature=0.7,
                         loss_weight=2.0, sampling='batch', **case)
    module.train(train)
    module.fused = fused
    if case['feature_layout'] == 'voxel':
        teacher, student, batch_idx, num_points = voxel_inputs()
        loss, _, selection = assert_matches_dense(module, teacher, student, batch_idx,
                                                  num_points, reference=dense_batchwide_reference)
    else:
        teacher, student = map_inputs(case['feature_layout'], batch=3)
        loss, _, selection = assert_matches_dense(module, teacher, student,
                                                  reference=dense_batchwide_reference)
    assert loss.item() > 0
    # N per batch: 10 queries in all, not 10 per sample
    assert sum(sel['index'].numel() for sel in selection) == 10


def test_batch_sampling_is_the_released_pointpillars_loss():
    """Hand transcription of the released KITTI PointPillars path (voxelnet.py 304-359):
    top-N over the pillars of the whole batch by point count, kNN in teacher feature space
    over all pillars of the batch, cat(neighbour, centre) edges through 1x1 conv + BN + ReLU,
    weights N * softmax(count / tau), loss 2 * mean(w * (G_T - G_S)^2)."""
    module = make_module(sampling='batch', temperature=0.5, loss_weight=2.0, num_queries=12,
                         num_neighbors=5)
    module.train()
    teacher, student, batch_idx, num_points = voxel_inputs(sizes=(20, 25))
    loss = module(teacher, student, batch_idx, num_points)

    n, k = 12, 5
    idx = torch.topk(num_points.double(), n).indices  # whole batch
    q = teacher[idx]
    dist = square_distance(q, teacher)
    knn = torch.topk(dist, k, dim=1, largest=False).indices  # (n, k), centre first (distinct)
    assert torch.equal(knn[:, 0], idx)

    def graph(adapter, feats):
        edge = torch.cat([feats[knn], feats[idx].unsqueeze(1).expand(-1, k, -1)], dim=-1)
        x = torch.nn.functional.conv2d(edge.permute(2, 0, 1).unsqueeze(0),
                                       adapter.conv.weight)
        bn = adapter.norm
        x = torch.nn.functional.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
        return torch.relu(x)  # (1, C', n, k)

    g_t = graph(module.teacher_adapter, teacher)
    g_s = graph(module.student_adapter, student)
    w = n * torch.softmax(num_points[idx].double() / 0.5, dim=0)
    expected = 2 * (torch.nn.functional.mse_loss(g_s, g_t, reduction='none')
                    * w.view(1, 1, -1, 1)).mean()
    torch.testing.assert_close(loss, expected, atol=1e-10, rtol=1e-9)


def test_batch_sampling_neighbours_cross_scenes():
    """With 'batch' a query's nearest teacher feature in another scene is its neighbour;
    with 'sample' it never is."""
    teacher = torch.tensor([[0.0] * C_T, [5.0] * C_T, [0.1] * C_T, [9.0] * C_T],
                           dtype=torch.float64)
    student = torch.randn(4, C_S, dtype=torch.float64, requires_grad=True)
    batch_idx = torch.tensor([0, 0, 1, 1])
    num_points = torch.tensor([9, 1, 2, 1])
    for sampling, expected in (('batch', [0, 2]), ('sample', [0, 1])):
        module = make_module(sampling=sampling, num_queries=1, num_neighbors=2)
        dense = dense_batchwide_reference if sampling == 'batch' else \
            dense_reference_from_module
        ref, _, _ = dense(module, teacher, student, batch_idx, num_points)
        assert ref.knn[0][0].tolist() == expected
        with module.recording_selection() as records:
            module(teacher, student, batch_idx, num_points)
        # the top-count pillar of the batch (row 0, sample 0) is the only 'batch' query
        counts = [sel['index'].numel() for sel in records[0]]
        assert counts == ([1, 0] if sampling == 'batch' else [1, 1])
