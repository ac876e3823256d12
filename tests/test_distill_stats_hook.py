"""DistillStatsHook: measured adapter statistics (not closed forms), the collapse warnings
that name the tap and its config key, and the reference window of the loss ratio."""
import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d_pointdistiller.engine.hooks import DistillStatsHook, bn_stats
from mmdet3d_pointdistiller.engine.hooks import distill_stats_hook as hook_module
from mmdet3d_pointdistiller.models.losses import PointDistillerLoss, effective_queries

pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def make_loss(**kwargs):
    torch.manual_seed(0)
    cfg = dict(teacher_channels=8, student_channels=4, adapter_channels=4, num_queries=6,
               num_neighbors=3)
    cfg.update(kwargs)
    return PointDistillerLoss(**cfg)


def voxel_batch(m=40, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(m, 8, generator=gen), torch.randn(m, 4, generator=gen),
            torch.arange(2).repeat_interleave(m // 2), torch.randperm(m, generator=gen) + 1.0)


def test_measured_output_stats_equal_a_hand_computation():
    """local=False: G = ReLU(BN(W x_sel)) with batch statistics, computed here by hand."""
    loss = make_loss(local=False)
    teacher, student, batch_idx, num_points = voxel_batch()
    loss.measure_outputs = True
    loss(teacher, student, batch_idx, num_points)
    stats = loss.last_output_stats
    sel = torch.cat([num_points[batch_idx == b].topk(6).indices + 20 * b for b in range(2)])
    for side, feat, adapter in (('t', teacher, loss.teacher_adapter),
                                ('s', student, loss.student_adapter)):
        z = feat[sel] @ adapter.conv.weight.detach().flatten(1).t()
        g = F.relu(F.batch_norm(z, None, None, adapter.norm.weight.detach(),
                                adapter.norm.bias.detach(), True, 0.0, adapter.norm.eps))
        assert stats[f'out_var_{side}'] == pytest.approx(float(g.var(dim=0, unbiased=False)
                                                               .mean()), rel=1e-5)
        assert stats[f'out_active_{side}'] == pytest.approx(float((g > 0).float().mean()))
    assert 0.3 < stats['out_active_t'] < 0.7  # a fresh BN-ReLU: about half the units live
    loss.measure_outputs = False
    loss(teacher, student, batch_idx, num_points)
    assert loss.last_output_stats == {}


@pytest.mark.parametrize('projection', ['adapter', 'edge'])
def test_fused_and_autograd_paths_measure_the_same(projection):
    kwargs = dict(teacher_projection='edge', act_cfg=None, adapter_channels=16) \
        if projection == 'edge' else {}
    fused = make_loss(**kwargs)
    plain = copy.deepcopy(fused)
    plain.fused = False
    batch = voxel_batch()
    for module in (fused, plain):
        module.measure_outputs = True
        module(*batch)
    assert fused.last_output_stats.keys() == {'out_var_t', 'out_active_t', 'out_var_s',
                                              'out_active_s', 'out_dims_t', 'out_dims_s',
                                              'neff'}
    for key, value in fused.last_output_stats.items():
        assert value == pytest.approx(plain.last_output_stats[key], rel=1e-5), key
    if projection == 'edge':  # standardised target, no activation: all outputs live
        assert fused.last_output_stats['out_active_t'] == 1.0
        assert fused.last_output_stats['out_var_t'] == pytest.approx(1.0, rel=1e-4)


def test_bn_stats_and_effective_queries():
    loss = make_loss()
    with torch.no_grad():
        loss.teacher_adapter.norm.weight.copy_(torch.tensor([1.0, -0.5, 2.0, 4.0]))
        loss.teacher_adapter.norm.bias.copy_(torch.tensor([0.0, -1.0, 1.0, -2.0]))
    stats = bn_stats(loss)
    assert stats['gamma_t'] == pytest.approx(1.875)
    assert stats['bg_t'] == pytest.approx((0.0 - 2.0 + 0.5 - 0.5) / 4)
    assert stats['gamma_s'] == pytest.approx(1.0) and stats['bg_s'] == 0.0
    edge = make_loss(teacher_projection='edge', act_cfg=None, adapter_channels=16)
    assert set(bn_stats(edge)) == {'gamma_s', 'bg_s'}  # the teacher side has no affine BN
    sel = [dict(weight=torch.ones(4)), dict(weight=torch.tensor([4.0, 0, 0, 0])),
           dict(weight=torch.zeros(0))]
    assert effective_queries(sel) == pytest.approx(2.5)
    assert effective_queries([]) is None


def test_selection_is_recorded_on_request_and_neff_measured_from_it():
    """A forward keeps no selection; inside ``recording_selection`` every forward appends
    one; a measured forward's ``neff`` is that selection's effective query count."""
    loss = make_loss(temperature=0.5)
    batch = voxel_batch()
    loss(*batch)
    assert loss._selection_records is None and loss.last_output_stats == {}
    loss.measure_outputs = True
    with loss.recording_selection() as records:
        loss(*batch)
        with loss.recording_selection() as inner:  # nested: the inner block gets its own
            loss(*batch)
        loss(*batch)
    assert len(records) == 2 and len(inner) == 1 and loss._selection_records is None
    teacher, _, batch_idx, num_points = batch
    for b, sel in enumerate(records[0]):  # top-6 by point count, N_b softmax(count / tau)
        top = num_points[batch_idx == b].topk(6)
        assert sel['index'].tolist() == (top.indices + 20 * b).tolist()
        torch.testing.assert_close(sel['weight'], 6 * torch.softmax(top.values / 0.5, 0))
    w = [6 * torch.softmax(num_points[batch_idx == b].topk(6).values.double() / 0.5, 0)
         for b in range(2)]
    expected = sum(float(x.sum() ** 2 / (x * x).sum()) for x in w) / 2
    assert loss.last_output_stats['neff'] == pytest.approx(expected, rel=1e-6)
    assert effective_queries(records[1]) == pytest.approx(expected, rel=1e-6)


class _Runner(SimpleNamespace):
    pass


def make_runner(loss, name):
    hub = MessageHub.get_instance(name)
    model = SimpleNamespace(distill_losses=torch.nn.ModuleDict({'pfn': loss}))
    return _Runner(model=model, iter=0, message_hub=hub)


@pytest.fixture
def warnings_log(monkeypatch):
    messages = []
    monkeypatch.setattr(hook_module, 'print_log',
                        lambda msg, logger=None, level=None: messages.append((level, msg)))
    return messages


def test_dead_adapter_warns_once_naming_the_tap_and_key(warnings_log):
    loss = make_loss()
    with torch.no_grad():  # a silent student adapter: gamma 0, beta -1 before the ReLU
        loss.student_adapter.norm.weight.fill_(0.0)
        loss.student_adapter.norm.bias.fill_(-1.0)
    runner = make_runner(loss, 'test_dead_adapter')
    hook = DistillStatsHook(interval=1)
    for it in range(3):
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert loss.measure_outputs
        loss(*voxel_batch(seed=it))
        hook.after_train_iter(runner, it, outputs=dict(loss_cls=torch.tensor(1.0),
                                                       loss_pd_pfn=torch.tensor(0.5)))
    assert runner.message_hub.get_scalar('train/kd_pfn_out_active_s').current() == 0.0
    assert runner.message_hub.get_scalar('train/kd_pfn_bg_s').current() == pytest.approx(-1e12)
    assert runner.message_hub.get_scalar('train/kd_pfn_out_active_t').current() > 0.3
    assert len(warnings_log) == 1
    level, msg = warnings_log[0]
    assert level == 30 and "tap 'pfn' (model.distill_cfg[0].loss)" in msg
    assert 'student-side adapter' in msg and '0.00%' in msg


def test_kd_loss_collapse_warns_when_the_detection_loss_has_not(warnings_log):
    loss = make_loss()
    runner = make_runner(loss, 'test_kd_collapse')
    hook = DistillStatsHook(interval=5, ref_iters=4)
    kd = [1.0, 1.2, 0.8, 1.0] + [0.5, 0.02, 0.009, 0.001]  # reference mean 1.0
    for it, value in enumerate(kd):
        runner.iter = it
        hook.before_train_iter(runner, it)
        assert loss.measure_outputs == (it in (0, 4))  # logging iterations only
        hook.after_train_iter(runner, it, outputs=dict(
            loss_cls=torch.tensor(0.6), loss_bbox=torch.tensor(0.4),
            loss_pd_pfn=torch.tensor(value)))
        if it == 4:  # logged: ratio 0.5 / 1.0, detection loss 1.0 / 1.0
            assert runner.message_hub.get_scalar('train/kd_pfn_loss_ratio').current() == \
                pytest.approx(0.5)
            assert runner.message_hub.get_scalar('train/kd_detection_ratio').current() == 1.0
    assert len(warnings_log) == 1 and '0.90%' in warnings_log[0][1]
    assert "model.distill_cfg[0].loss.teacher_projection='edge'" in warnings_log[0][1]
    assert 'model.distill_cfg[0].loss.teacher_adapter_trainable=False' in warnings_log[0][1]
    # no warning when the detection loss has fallen as far (e.g. a converged toy problem)
    warnings_log.clear()
    hook = DistillStatsHook(interval=1, ref_iters=2)
    for it, (kd_v, det_v) in enumerate([(1.0, 1.0), (1.0, 1.0), (0.001, 0.001)]):
        runner.iter = it
        hook.after_train_iter(runner, it, outputs=dict(loss_cls=torch.tensor(det_v),
                                                       loss_pd_pfn=torch.tensor(kd_v)))
    assert warnings_log == []


@pytest.mark.parametrize('kwargs,message', [
    (dict(interval=0), 'interval must be an integer >= 1'),
    (dict(ref_iters=1.5), 'ref_iters must be an integer >= 1'),
    (dict(collapse_ratio=1.0), r'collapse_ratio must be in \[0, 1\)'),
    (dict(min_active=-0.1), r'min_active must be in \[0, 1\)'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DistillStatsHook(**kwargs)


def test_measured_diagnostics_reach_the_record_table(tmp_path):
    """The hook's scalars, read back by kd_diagnostics, give one table row per run and tap."""
    import json
    from mmdet3d_pointdistiller.experiments.kd_gain import kd_diagnostics
    from mmdet3d_pointdistiller.experiments.kd_gain_report import _measured_diagnostics_table
    d = tmp_path / '20261206_000000' / 'vis_data'
    d.mkdir(parents=True)
    recs = [dict(iter=10, loss=2.0, loss_cls=1.0, loss_pd_b0=0.6, loss_pd_b1=0.4,
                 kd_b0_out_active_t=1.0, kd_b0_loss_ratio=1.0, kd_b1_loss_ratio=1.0,
                 kd_detection_ratio=1.0),
            dict(iter=20, loss=1.0, loss_cls=0.7, loss_pd_b0=0.2, loss_pd_b1=0.1,
                 kd_b0_out_active_t=0.5, kd_b0_loss_ratio=0.25, kd_b1_loss_ratio=0.5,
                 kd_b0_neff=12.0, kd_detection_ratio=0.7)]
    (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs))
    diag = kd_diagnostics(str(tmp_path), tail=1)
    assert (diag['b0_loss_ratio'], diag['detection_ratio']) == (0.25, 0.7)
    rows = [r for r in _measured_diagnostics_table([('pd', '101', diag)]) if r.startswith('| pd')]
    assert rows == [
        '| pd | 101 | b0 | 1.0000 → 0.3000 | 0.700 | 0.700 | 0.250 | 0.500 | – | – | – | – | '
        '– | – | – | 12.000 |',
        '| pd | 101 | b1 | 1.0000 → 0.3000 | 0.700 | 0.700 | 0.500 | – | – | – | – | – | – | – | '
        '– | – |']


def test_references_survive_a_checkpoint(warnings_log):
    """A resumed run keeps the early-loss means and the warnings already given."""
    loss = make_loss()
    runner = make_runner(loss, 'test_hook_checkpoint')
    hook = DistillStatsHook(interval=1, ref_iters=2)
    for it, (kd_v, det_v) in enumerate([(1.0, 1.0), (3.0, 1.0), (0.001, 1.0)]):
        runner.iter = it
        hook.after_train_iter(runner, it, outputs=dict(loss_cls=torch.tensor(det_v),
                                                       loss_pd_pfn=torch.tensor(kd_v)))
    assert len(warnings_log) == 1  # 0.001 / mean(1, 3): collapsed
    ckpt = {'meta': {}}
    hook.before_save_checkpoint(runner, ckpt)
    resumed = DistillStatsHook(interval=1, ref_iters=2)
    resumed.after_load_checkpoint(runner, ckpt)
    runner.iter = 3
    resumed.after_train_iter(runner, 3, outputs=dict(loss_cls=torch.tensor(1.0),
                                                     loss_pd_pfn=torch.tensor(0.5)))
    assert runner.message_hub.get_scalar('train/kd_pfn_loss_ratio').current() == \
        pytest.approx(0.25)
    assert len(warnings_log) == 1  # not warned twice
    DistillStatsHook().after_load_checkpoint(runner, {'meta': {}})  # an older checkpoint
    assert 'no early-loss references' in warnings_log[-1][1]


def test_effective_dimensions_of_the_outputs():
    """out_dims: 1 when every channel copies one signal (a rank collapse with unit variance),
    2 for two independent equal-variance signals, ~C' for independent channels."""
    from mmdet3d_pointdistiller.models.losses.edge_adapters import OutputStats
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(5000, 1, generator=gen, dtype=torch.float64)
    stats = OutputStats(rank_rows=3000)
    stats.add('t', z.repeat(1, 8))  # 8 channels, one direction, each with variance 1
    two = torch.randn(5000, 2, generator=gen, dtype=torch.float64)
    stats.add('s', torch.cat([two[:, :1].repeat(1, 4), two[:, 1:].repeat(1, 4)], dim=1))
    res = stats.result()
    assert res['out_dims_t'] == pytest.approx(1.0, rel=1e-9)
    assert res['out_var_t'] == pytest.approx(float(z.var(unbiased=False)), rel=1e-9)
    assert res['out_dims_s'] == pytest.approx(2.0, rel=0.05)
    iso = OutputStats()
    iso.add('t', torch.randn(20000, 16, generator=gen))
    assert 15.0 < iso.result()['out_dims_t'] <= 16.0


def test_one_dimensional_teacher_outputs_warn(warnings_log):
    loss = make_loss(teacher_projection='normalised', act_cfg=None)
    with torch.no_grad():  # every teacher-side channel the same projection: one dimension
        w = loss.teacher_adapter.conv.weight
        w.copy_(w[:1].expand_as(w))
    runner = make_runner(loss, 'test_hook_dims')
    hook = DistillStatsHook(interval=1)
    hook.before_train_iter(runner, 0)
    loss(*voxel_batch())
    hook.after_train_iter(runner, 0, outputs=dict(loss_pd_pfn=torch.tensor(1.0)))
    assert runner.message_hub.get_scalar('train/kd_pfn_out_dims_t').current() == \
        pytest.approx(1.0, rel=1e-4)
    assert len(warnings_log) == 1 and 'carry 1.00 effective dimensions of 4' in \
        warnings_log[0][1] and 'model.distill_cfg[0].loss.teacher_adapter_trainable=False' in \
        warnings_log[0][1]
