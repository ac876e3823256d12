"""The closed-form graph MSE of activation-free adapters (``LinearEdgeGraphMSE``).

* it is the path the default (design (c)) configs take, and only where it applies;
* it equals the fused operator and plain autograd (loss, every gradient, BN running
  statistics), ragged graphs included, in float32 at the sim config's sizes;
* the expansion keeps its precision when the student matches the teacher (tiny loss).

The dense references of every design are in tests/test_teacher_projection.py (they run this
path too: closed form is on by default).
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.losses import fused_edge_loss, linear_edge_loss

REPO = Path(__file__).resolve().parents[1]
DEFAULT_16X = (REPO / 'configs/sim/'
               'pointdistiller_pointpillars-16x_hv_secfpn_1xb4-6000it-cpu_sim-kitti-3d-3class.py')

pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def default_loss(**overrides):
    """The default 16x sim config's PointDistillerLoss (design (c), 64 -> 16 channels)."""
    cfg = dict(Config.fromfile(DEFAULT_16X).model.distill_cfg[0]['loss'])
    cfg.update(overrides)
    return MODELS.build(cfg)


def voxel_batch(sizes, seed=0, c_t=64, c_s=16):
    """Teacher (M, C_T), student (M, C_S) with grad, sample index and points per voxel."""
    gen = torch.Generator().manual_seed(seed)
    batch_idx = torch.cat([torch.full((m, ), b) for b, m in enumerate(sizes)])
    m = batch_idx.numel()
    teacher = torch.randn(m, c_t, generator=gen)
    student = torch.randn(m, c_s, generator=gen).requires_grad_()
    return teacher, student, batch_idx, torch.randint(1, 40, (m, ), generator=gen)


def spy(monkeypatch):
    """Count the calls of the fused and the closed-form operator."""
    calls = dict(linear=0, fused=0)
    for name, mod, fn in (('linear', linear_edge_loss.LinearEdgeGraphMSE, 'apply'),
                          ('fused', fused_edge_loss.FusedEdgeGraphMSE, 'apply')):
        orig = getattr(mod, fn)

        def counted(*args, _orig=orig, _name=name):
            calls[_name] += 1
            return _orig(*args)
        monkeypatch.setattr(mod, fn, counted)
    return calls


def test_default_config_takes_the_closed_form_where_it_applies(monkeypatch):
    calls = spy(monkeypatch)
    loss = default_loss().train()
    teacher, student, batch_idx, num_points = voxel_batch((300, 200))
    loss(teacher, student, batch_idx, num_points)
    assert calls == dict(linear=1, fused=0)
    loss.measure_outputs = True  # DistillStatsHook's logging iterations measure G_T / G_S
    loss(teacher, student, batch_idx, num_points)
    assert calls == dict(linear=1, fused=1)
    assert loss.last_output_stats['out_var_t'] == pytest.approx(1.0, abs=1e-4)  # standardised
    loss.measure_outputs = False
    loss.closed_form = False
    loss(teacher, student, batch_idx, num_points)
    assert calls == dict(linear=1, fused=2)
    # the paper's design has a ReLU: never closed form
    release = default_loss(teacher_projection='adapter', act_cfg=dict(type='ReLU'),
                           adapter_channels=32).train()
    release(teacher, student, batch_idx, num_points)
    assert calls == dict(linear=1, fused=3)


def test_bev_layout_weighted_by_the_teacher_max_keeps_the_fused_operator(monkeypatch):
    calls = spy(monkeypatch)
    loss = default_loss(feature_layout='bev', score='teacher_max').train()
    gen = torch.Generator().manual_seed(3)
    teacher = torch.randn(2, 64, 12, 10, generator=gen)
    student = torch.randn(2, 16, 12, 10, generator=gen, requires_grad=True)
    loss(teacher, student)
    assert calls == dict(linear=0, fused=1)  # the weights read max(G_T)
    default_loss(feature_layout='bev', score='teacher_max', reweight=False).train()(
        teacher, student)
    assert calls == dict(linear=1, fused=1)


@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('projection', ['edge', 'normalised'])
def test_closed_form_equals_fused_and_autograd_in_float32(projection, train):
    """Loss, gradients (student features and every trainable parameter) and the running
    statistics agree between the three paths; one sample has fewer elements than K (its
    graph is ragged) and the teacher side of 'normalised' is trainable."""
    overrides = dict(teacher_projection=projection)
    if projection == 'normalised':
        overrides.update(adapter_channels=32, teacher_adapter_trainable=True)
    teacher, student, batch_idx, num_points = voxel_batch((700, 20, 450), seed=1)
    results = []
    for fused, closed in ((True, True), (True, False), (False, False)):
        torch.manual_seed(0)
        loss = default_loss(**overrides).train(train)
        for adapter in (loss.teacher_adapter, loss.student_adapter):
            if adapter.with_norm:
                adapter.norm.running_var.fill_(2.0)
        loss.fused, loss.closed_form = fused, closed
        value = loss(teacher, student, batch_idx, num_points)
        params = [student] + [p for p in loss.parameters() if p.requires_grad]
        grads = torch.autograd.grad(value, params)
        adapters = (loss.teacher_adapter, loss.student_adapter)
        stats = [a.norm.running_var.clone() for a in adapters if a.with_norm]
        results.append((value, grads, stats))
    assert len(results[0][1]) >= 3 + (2 if projection == 'normalised' else 0)
    for other in results[1:]:
        torch.testing.assert_close(results[0][0], other[0], rtol=2e-5, atol=1e-7)
        for g, rg in zip(results[0][1], other[1]):
            torch.testing.assert_close(g, rg, rtol=2e-4, atol=2e-6)
        for s, rs in zip(results[0][2], other[2]):
            torch.testing.assert_close(s, rs)
    assert results[0][0].item() > 0.5


def test_closed_form_keeps_precision_when_its_terms_cancel():
    """A student adapter that reproduces the (norm-free) teacher edge features up to ~1e-3
    from features with a large common offset c: the neighbour- and centre-side differences
    D_j and E_i are each of the order of W_S cat(c, c) while their sum per edge is ~1e-4,
    so the expanded terms are many orders above the loss. float64 inside the operator keeps it
    right to 1e-3 of itself (float32 returns rounding noise: 2.7e-3 for 2.9e-7)."""
    loss = default_loss(norm_cfg=None, reweight=False, loss_weight=1.0).train()
    _, _, batch_idx, num_points = voxel_batch((400, 300), seed=2)
    gen = torch.Generator().manual_seed(5)
    mix = torch.randn(64, 16, generator=gen)
    resid = torch.randn(batch_idx.numel(), 16, generator=gen)
    teacher = resid @ mix.t()  # (M, 64), determined by the student's residual
    offset = torch.full((16, ), 100.0)
    student = (resid + offset).requires_grad_()
    with torch.no_grad():  # W_S = W_T diag(mix, mix) + noise, bias cancels W_S cat(c, c)
        w_t = loss.teacher_adapter.conv.weight.flatten(1)  # (128, 128)
        w_s = w_t @ torch.block_diag(mix, mix) + 1e-4 * torch.randn(128, 32, generator=gen)
        loss.student_adapter.conv.weight.copy_(w_s[:, :, None, None])
        loss.student_adapter.conv.bias.copy_(-(w_s.double() @ offset.double().repeat(2)))
    closed = loss(teacher, student, batch_idx, num_points)
    loss.closed_form = False
    fused = loss(teacher, student, batch_idx, num_points)
    assert 1e-9 < fused.item() < 1e-5
    torch.testing.assert_close(closed, fused, rtol=1e-3, atol=0)
