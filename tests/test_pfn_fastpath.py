"""The exact pillar-encoder fast paths (``models/layers/pfn_fastpath.py``): the frozen teacher's
folded layer and the trained first layer computed on the real points only."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmdet3d.models.voxel_encoders import PillarFeatureNet

from mmdet3d_pointdistiller.engine.hooks import RealPointsPFNHook
from mmdet3d_pointdistiller.models.layers import (FoldedPFNLayer, RealPointsPFNLayer,
                                                  fold_teacher_pfn, use_real_points_pfn)

REPO = Path(__file__).resolve().parents[1]


class _Teacher(torch.nn.Module):
    def __init__(self, **pfn_kwargs) -> None:
        super().__init__()
        self.voxel_encoder = PillarFeatureNet(
            in_channels=4, feat_channels=pfn_kwargs.pop('feat_channels', [64]),
            with_distance=False, voxel_size=(0.32, 0.32, 4), point_cloud_range=(0, -20.48, -3,
                                                                                40.96, 20.48, 1),
            **pfn_kwargs)


def _pillars(m: int = 300, t: int = 32, seed: int = 0):
    """(M, T, 4) padded points, (M,) counts, (M, 4) coordinates. PillarFeatureNet (legacy)
    writes into its input, so every call below gets a clone."""
    g = torch.Generator().manual_seed(seed)
    num = torch.randint(1, t + 1, (m,), generator=g)
    pts = torch.rand(m, t, 4, generator=g) * torch.tensor([40.96, 40.96, 4, 1]) - \
        torch.tensor([0, 20.48, 3, 0])
    pts[torch.arange(t)[None, :] >= num[:, None]] = 0
    coors = torch.stack([torch.zeros(m, dtype=torch.long), torch.zeros(m, dtype=torch.long),
                         torch.randint(0, 128, (m,), generator=g),
                         torch.randint(0, 128, (m,), generator=g)], 1)
    return pts, num, coors


def _randomise(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    for name, t in model.state_dict().items():
        if t.dtype.is_floating_point:
            v = torch.rand(t.shape, generator=g) + 0.5 if 'var' in name else \
                torch.randn(t.shape, generator=g)
            t.copy_(v)


def test_folded_equals_original_and_keeps_keys():
    teacher = _Teacher()
    _randomise(teacher)
    reference = copy.deepcopy(teacher).eval()
    keys = list(teacher.state_dict())
    assert fold_teacher_pfn(teacher) == 1
    assert isinstance(teacher.voxel_encoder.pfn_layers[0], FoldedPFNLayer)
    assert list(teacher.state_dict()) == keys  # checkpoints load unchanged
    assert fold_teacher_pfn(teacher) == 0  # idempotent
    teacher.eval()
    pts, num, coors = _pillars()
    with torch.no_grad():
        want = reference.voxel_encoder(pts.clone(), num, coors)
        got = teacher.voxel_encoder(pts.clone(), num, coors)
    assert got.shape == want.shape == (300, 64)
    # same function, BN rounded differently
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_train_mode_runs_the_original_layer_bitwise():
    teacher = _Teacher()
    _randomise(teacher)
    reference = copy.deepcopy(teacher).train()
    fold_teacher_pfn(teacher)
    teacher.train()
    pts, num, coors = _pillars(seed=3)
    want = reference.voxel_encoder(pts.clone(), num, coors)
    got = teacher.voxel_encoder(pts.clone(), num, coors)
    assert torch.equal(got, want)
    # and the running statistics moved the same way
    for (k, a), (_, b) in zip(teacher.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), k


def test_weights_loaded_after_folding_are_used():
    teacher, other = _Teacher(), _Teacher()
    _randomise(other)
    fold_teacher_pfn(teacher)
    teacher.load_state_dict(other.state_dict())
    teacher.eval(), other.eval()
    pts, num, coors = _pillars(seed=5)
    with torch.no_grad():
        assert torch.allclose(teacher.voxel_encoder(pts.clone(), num, coors),
                              other.voxel_encoder(pts.clone(), num, coors), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('kwargs', [dict(mode='avg'), dict(feat_channels=[32, 64])])
def test_layers_that_do_not_qualify_are_left_alone(kwargs):
    teacher = _Teacher(**kwargs)
    layers = list(teacher.voxel_encoder.pfn_layers)
    folded = fold_teacher_pfn(teacher)
    # two-layer encoders fold only their last layer; avg mode folds nothing
    assert folded == (1 if len(layers) == 2 else 0)
    assert list(teacher.voxel_encoder.pfn_layers)[0] is layers[0]
    if folded:  # the folded last layer of two sees non-zero padded rows: the dense fold
        assert not teacher.voxel_encoder.pfn_layers[1].zero_padded
        _randomise(teacher)
        reference = copy.deepcopy(teacher)
        reference.voxel_encoder.pfn_layers[1] = layers[1]
        _randomise(reference)
        teacher.eval(), reference.eval()
        pts, num, coors = _pillars(seed=7)
        with torch.no_grad():
            want = reference.voxel_encoder(pts.clone(), num, coors)
            got = teacher.voxel_encoder(pts.clone(), num, coors)
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    with pytest.raises(ValueError, match='needs a last PFNLayer with mode="max"'):
        FoldedPFNLayer(layers[0])
    assert fold_teacher_pfn(torch.nn.Linear(2, 2)) == 0


def test_real_points_path_equals_the_dense_fold_with_and_without_padding():
    """The first layer multiplies only the real points; a pillar without padding must not
    take the zero rows' value into its max (here every real row maps below zero)."""
    teacher = _Teacher()
    _randomise(teacher)
    fold_teacher_pfn(teacher)
    layer = teacher.voxel_encoder.pfn_layers[0].eval()
    assert layer.zero_padded
    m, t, d = 50, 32, layer.linear.in_features
    g = torch.Generator().manual_seed(11)
    num = torch.randint(1, t + 1, (m,), generator=g)
    num[:10] = t  # full pillars
    num[10:15] = 1
    x = torch.randn(m, t, d, generator=g)
    weight, _ = layer.folded()
    x[:10] = -weight.sum(0)  # all real rows of the full pillars: x W'^T < 0 on most channels
    x[torch.arange(t)[None, :] >= num[:, None]] = 0
    # the case that matters: channels whose max over a full pillar's rows is below zero
    assert int(((x[:10] @ weight.t()).amax(1) < 0).sum()) > 100
    with torch.no_grad():
        got = layer(x, num)
        layer.zero_padded = False
        want = layer(x, num)
    assert got.shape == want.shape == (m, 1, 64)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    with pytest.raises(ValueError, match=r'num_voxels must hold one count in \[1, 32\]'):
        layer.zero_padded = True
        layer(x, torch.zeros(m, dtype=torch.long))


SIM_PD = 'configs/sim/pointdistiller_pointpillars-16x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'


def _sim_distiller(**overrides):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    cfg = Config.fromfile(str(REPO / SIM_PD))
    cfg.model.teacher_ckpt = str(REPO / cfg.model.teacher_ckpt)
    cfg.model.update(overrides)
    return MODELS.build(cfg.model)


def test_distiller_option_folds_the_shipped_teacher():
    """``model.teacher_fast_pfn=True`` on the sim config: the shipped teacher's encoder gives
    the same pillar features (trained weights, realistic statistics); keys are unchanged."""
    plain = _sim_distiller(teacher_fast_pfn=False)
    fast = _sim_distiller()  # the sim distillation base turns the fast path on
    assert isinstance(fast.teacher.voxel_encoder.pfn_layers[0], FoldedPFNLayer)
    assert not isinstance(plain.teacher.voxel_encoder.pfn_layers[0], FoldedPFNLayer)
    assert list(fast.state_dict()) == list(plain.state_dict())
    fast.train(), plain.train()  # the distiller keeps the teacher in eval mode
    assert not fast.teacher.voxel_encoder.pfn_layers[0].training
    pts, num, coors = _pillars(m=2000, seed=7)
    with torch.no_grad():
        want = plain.teacher.voxel_encoder(pts.clone(), num, coors)
        got = fast.teacher.voxel_encoder(pts.clone(), num, coors)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))


def test_distiller_option_errors():
    with pytest.raises(ValueError, match='teacher_fast_pfn=True needs model.teacher_norm_eval'):
        _sim_distiller(teacher_fast_pfn=True, teacher_norm_eval=False)


def _grads(model: torch.nn.Module) -> dict:
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize('momentum', [0.01, None])
def test_real_points_layer_trains_like_the_dense_layer(momentum):
    """Same outputs, same parameter gradients, same running statistics (also with
    ``momentum=None``, the cumulative average precise BN uses) over three training steps."""
    dense = _Teacher()
    _randomise(dense)
    dense.voxel_encoder.pfn_layers[0].norm.momentum = momentum
    fast = copy.deepcopy(dense)
    assert use_real_points_pfn(fast) == 1
    layer = fast.voxel_encoder.pfn_layers[0]
    assert isinstance(layer, RealPointsPFNLayer) and use_real_points_pfn(fast) == 0
    assert list(fast.state_dict()) == list(dense.state_dict())
    dense.train(), fast.train()
    for step in range(3):
        pts, num, coors = _pillars(m=400, seed=20 + step)
        # full pillars (no padded row may enter their max) whose zeroed rows now count as real:
        # identical decorated rows, i.e. ties in the max (duplicated points)
        num[:30] = 32
        pts, num = pts.clone(), num.clone()
        want = dense.voxel_encoder(pts.clone(), num, coors)
        got = fast.voxel_encoder(pts.clone(), num, coors)
        assert got.shape == want.shape == (400, 64)
        scale = float(want.detach().abs().max())
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * scale)
        weights = torch.randn(want.shape, generator=torch.Generator().manual_seed(step))
        dense.zero_grad(), fast.zero_grad()
        (want * weights).sum().backward()
        (got * weights).sum().backward()
        gd, gf = _grads(dense), _grads(fast)
        assert set(gd) == set(gf) == {'voxel_encoder.pfn_layers.0.norm.weight',
                                      'voxel_encoder.pfn_layers.0.norm.bias',
                                      'voxel_encoder.pfn_layers.0.linear.weight'}
        for k in gd:
            assert torch.allclose(gf[k], gd[k], rtol=1e-4,
                                  atol=1e-5 * float(gd[k].abs().max())), k
    for (k, a), (_, b) in zip(fast.state_dict().items(), dense.state_dict().items()):
        assert torch.allclose(a.float(), b.float(), rtol=1e-5, atol=1e-6), k
    assert int(layer.norm.num_batches_tracked) == 3
    # eval mode: the folded real-points path, gradients still reach the linear map
    dense.eval(), fast.eval()
    pts, num, coors = _pillars(m=200, seed=9)
    want = dense.voxel_encoder(pts.clone(), num, coors)
    got = fast.voxel_encoder(pts.clone(), num, coors)
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    got.sum().backward()
    assert layer.linear.weight.grad is not None


def test_use_real_points_pfn_leaves_what_it_cannot_compute_alone():
    assert use_real_points_pfn(_Teacher(feat_channels=[32, 64])) == 0  # first layer not last
    assert use_real_points_pfn(_Teacher(mode='avg')) == 0
    teacher = _Teacher()
    fold_teacher_pfn(teacher)
    assert use_real_points_pfn(teacher) == 0  # the frozen teacher's folded layer stays
    sync = _Teacher()
    sync.voxel_encoder.pfn_layers[0].norm = torch.nn.SyncBatchNorm(64, eps=1e-3, momentum=0.01)
    assert use_real_points_pfn(sync) == 0
    for kwargs in (dict(affine=False), dict(track_running_stats=False)):  # nothing to fold
        plain = _Teacher()
        plain.voxel_encoder.pfn_layers[0].norm = torch.nn.BatchNorm1d(64, eps=1e-3, **kwargs)
        assert use_real_points_pfn(plain) == 0 and fold_teacher_pfn(plain) == 0
    assert use_real_points_pfn(torch.nn.Linear(2, 2)) == 0


def test_real_points_hook_replaces_the_layer_or_names_the_config_key():
    class Runner:
        def __init__(self, model):
            self.model = model

    runner = Runner(_Teacher())
    RealPointsPFNHook().before_run(runner)
    assert isinstance(runner.model.voxel_encoder.pfn_layers[0], RealPointsPFNLayer)
    with pytest.raises(ValueError, match='custom_hooks: RealPointsPFNHook found no pillar '
                                         'encoder'):
        RealPointsPFNHook().before_run(Runner(torch.nn.Linear(2, 2)))


def test_stock_pointpillars_on_a_real_frame_gets_the_same_losses_and_gradients():
    """mmdet3d's stock KITTI PointPillars, one real frame through its own KittiDataset and
    data preprocessor (voxelisation with real point counts): the whole detector's losses and
    every parameter gradient agree with and without the real-points layer."""
    from mmengine.dataset import pseudo_collate
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope

    from mmdet3d.registry import MODELS
    from mmdet3d_pointdistiller.testing import kitti_real_dir
    from mmdet3d_pointdistiller.utils import load_kitti_frame
    init_default_scope('mmdet3d')
    cfg = get_config('mmdet3d::pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py')
    torch.manual_seed(0)
    dense = MODELS.build(cfg.model).train()
    fast = copy.deepcopy(dense)
    assert use_real_points_pfn(fast) == 1
    batch = pseudo_collate([load_kitti_frame(kitti_real_dir(), cfg.point_cloud_range,
                                             train=True,
                                             classes=['Pedestrian', 'Cyclist', 'Car'])])
    data = dense.data_preprocessor(batch, True)
    counts = data['inputs']['voxels']['num_points']
    assert int(counts.min()) >= 1 and float(counts.float().mean()) < 32  # padded pillars
    losses = {}
    for name, model in (('dense', dense), ('fast', fast)):
        sample = copy.deepcopy(data)  # the legacy PillarFeatureNet writes into its input
        parts = model.loss(sample['inputs'], sample['data_samples'])
        total = sum(v for vs in parts.values() for v in (vs if isinstance(vs, list) else [vs]))
        total.backward()
        losses[name] = {k: float(sum(v) if isinstance(v, list) else v) for k, v in parts.items()}
    assert losses['fast'] == pytest.approx(losses['dense'], rel=1e-4)
    grads_d, grads_f = _grads(dense), _grads(fast)
    assert set(grads_d) == set(grads_f) and len(grads_d) > 20
    worst = {k: float((grads_f[k] - grads_d[k]).abs().max() / grads_d[k].abs().max())
             for k in grads_d}
    # rounding only: the untrained network amplifies the encoder's last-bit differences (the
    # dense float32 model itself differs from its float64 copy by 4.7e-2 of the largest
    # gradient of a tensor, this path from the dense one by 1.1e-3; a first version that gave
    # every duplicated point the whole gradient was off by more than the gradients themselves
    # in the layer test above)
    assert max(worst.values()) < 1e-2


@pytest.mark.parametrize('train', [True, False])
def test_real_points_layer_under_cpu_autocast_keeps_the_dense_layers_dtype(train):
    """bf16 autocast: the output has the dense layer's dtype (the linear map's), the values
    agree to bf16 rounding (statistics computed in float32, as BatchNorm does)."""
    dense = _Teacher()
    _randomise(dense)
    fast = copy.deepcopy(dense)
    use_real_points_pfn(fast)
    dense.train(train), fast.train(train)
    pts, num, coors = _pillars(m=300, seed=31)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        want = dense.voxel_encoder(pts.clone(), num, coors)
        got = fast.voxel_encoder(pts.clone(), num, coors)
    assert got.dtype == want.dtype == torch.bfloat16
    assert torch.allclose(got.float(), want.float(), rtol=3e-2,
                          atol=3e-2 * float(want.float().abs().max()))
