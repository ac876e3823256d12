"""The seven earlier KD methods (paper Table 3) and the LD/RL ablations (Table 5).

Part 1: each loss module against hand-computed values or an independent re-implementation on
small tensors (float64), gradient flow (student and adapters only), layout equivalences and
argument errors.
Part 2: every ``configs/kd_methods`` config builds and runs one training step on the real KITTI
frame 000008 (point-cloud range cropped to ``mmdet3d_pointdistiller.testing.PP_CROP``, one randomly
initialised teacher checkpoint shared by all configs).
"""
import copy
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

import mmdet3d_pointdistiller  # noqa: F401  registers modules
from mmdet3d.registry import MODELS
from mmdet3d_pointdistiller.models.losses.kd_methods import (AttentionNonLocalKDLoss,
                                                             AttentionTransferLoss, CRDLoss,
                                                             FitNetsLoss, OverhaulKDLoss,
                                                             SESSDConsistencyLoss,
                                                             SimilarityPreservingLoss, bn_margin,
                                                             channel_attention,
                                                             spatial_attention)
from mmdet3d_pointdistiller.testing import PP_CROP, kitti_real_dir
from mmdet3d_pointdistiller.utils import save_random_teacher

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()
KD_METHODS = REPO / 'configs' / 'kd_methods'
SUFFIX = '_pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'
METHODS = ['fitnets', 'attention-transfer', 'se-ssd', 'similarity-preserving', 'crd',
           'overhaul', 'attention-nonlocal', 'ld-only', 'rl-only', 'ld-rl']


pytestmark = pytest.mark.usefixtures('single_thread')  # tests/conftest.py


def randn(*shape, seed=0, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale)


def randomize(module, seed=0):
    """Random (non-default) parameters, so adapters are not identities or zeros."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return module


# ============================================================================ FitNets
def test_fitnets_hand_computed():
    loss = FitNetsLoss(1, 1, 'bev', loss_weight=3.0).double()
    with torch.no_grad():
        loss.regressor.conv.weight.fill_(2.0)
        loss.regressor.conv.bias.fill_(0.5)
    teacher = torch.tensor([[[[1.0, 2.0], [0.0, -1.0]]]], dtype=torch.float64)
    student = torch.tensor([[[[0.0, 1.0], [1.0, -1.0]]]], dtype=torch.float64)
    # hint = 2 s + 0.5 = [[0.5, 2.5], [2.5, -1.5]]; diff^2 = [0.25, 0.25, 6.25, 0.25]
    assert loss(teacher, student).item() == pytest.approx(3.0 * 7.0 / 4)


@pytest.mark.parametrize('layout', ['bev', 'point', 'voxel'])
def test_fitnets_matches_reimplementation(layout):
    loss = randomize(FitNetsLoss(6, 4, layout).double())
    shape = {'bev': (2, 6, 3, 5), 'point': (2, 6, 7), 'voxel': (9, 6)}[layout]
    teacher = randn(*shape, seed=1)
    student = randn(*((shape[0], 4) + shape[2:]), seed=2)
    kwargs = {'batch_idx': torch.tensor([0, 1, 1, 0, 2, 2, 2, 0, 1])} if layout == 'voxel' else {}
    w = loss.regressor.conv.weight.flatten(1)  # (6, 4)
    s = student.movedim(1, -1) if layout != 'voxel' else student
    t = teacher.movedim(1, -1) if layout != 'voxel' else teacher
    expected = ((t - (s @ w.t() + loss.regressor.conv.bias)) ** 2).mean()
    assert loss(teacher, student, **kwargs).item() == pytest.approx(expected.item(), rel=1e-12)


# ============================================================================ AT
def test_attention_transfer_hand_computed():
    loss = AttentionTransferLoss(2, 1, 'bev', p=2.0, loss_weight=500.0).double()
    # teacher positions: (1, 1) -> mean sq 1, (2, 0) -> 2: a_T = [1, 2] / sqrt(5)
    teacher = torch.tensor([[[[1.0, 2.0]], [[1.0, 0.0]]]], dtype=torch.float64)
    # student: 1 channel, (1), (-1): a_S = [1, 1] / sqrt(2)
    student = torch.tensor([[[[1.0, -1.0]]]], dtype=torch.float64)
    r2, r5 = math.sqrt(2), math.sqrt(5)
    expected = 500.0 * ((1 / r2 - 1 / r5) ** 2 + (1 / r2 - 2 / r5) ** 2) / 2
    assert loss(teacher, student).item() == pytest.approx(expected, rel=1e-12)
    # same attention up to scale -> zero
    assert loss(teacher, teacher[:, :1] * 0 + torch.tensor(
        [[[[1.0, math.sqrt(2)]]]], dtype=torch.float64)).item() == pytest.approx(0, abs=1e-12)


# ============================================================================ SP
def _sp_numpy(rows_t, rows_s):
    def gram(q):
        g = q @ q.T
        return g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
    n = rows_t.shape[0]
    return ((gram(rows_s) - gram(rows_t)) ** 2).sum() / n ** 2


def test_similarity_preserving_spatial_batch_and_voxel():
    teacher, student = randn(3, 6, 4, 5, seed=3), randn(3, 4, 4, 5, seed=4)
    spatial = SimilarityPreservingLoss(6, 4, 'bev', mode='spatial', max_positions=None,
                                       loss_weight=2.0)
    expected = np.mean([_sp_numpy(teacher[b].flatten(1).T.numpy(),
                                  student[b].flatten(1).T.numpy()) for b in range(3)])
    assert spatial(teacher, student).item() == pytest.approx(2.0 * expected, rel=1e-10)
    batch = SimilarityPreservingLoss(6, 4, 'bev', mode='batch', loss_weight=1.0)
    expected = _sp_numpy(teacher.flatten(1).numpy(), student.flatten(1).numpy())
    assert batch(teacher, student).item() == pytest.approx(expected, rel=1e-10)
    # voxel layout: rows of each sample (any order) == the bev cells of that sample
    rows_t = teacher.flatten(2).transpose(1, 2).reshape(-1, 6)
    rows_s = student.flatten(2).transpose(1, 2).reshape(-1, 4)
    perm = torch.randperm(60, generator=torch.Generator().manual_seed(0))
    bidx = torch.arange(3).repeat_interleave(20)
    voxel = SimilarityPreservingLoss(6, 4, 'voxel', max_positions=None, loss_weight=2.0)
    assert voxel(rows_t[perm], rows_s[perm], batch_idx=bidx[perm]).item() == pytest.approx(
        spatial(teacher, student).item(), rel=1e-10)
    # a student that is a scaled copy of the teacher has the same normalised Gram matrix
    same = SimilarityPreservingLoss(6, 6, 'bev', max_positions=None)
    assert same(teacher, 3 * teacher).item() == pytest.approx(0, abs=1e-12)
    # max_positions: a random subset of that size (global RNG) -> equals the subset's loss
    capped = SimilarityPreservingLoss(6, 4, 'bev', max_positions=7, loss_weight=1.0)
    torch.manual_seed(5)
    value = capped(teacher[:1], student[:1]).item()
    torch.manual_seed(5)
    keep = torch.randperm(20)[:7]
    expected = _sp_numpy(teacher[0].flatten(1).T[keep].numpy(),
                         student[0].flatten(1).T[keep].numpy())
    assert value == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="mode='batch' needs fixed-size maps"):
        SimilarityPreservingLoss(6, 4, 'voxel', mode='batch')


# ============================================================================ CRD
def _crd_numpy(t_rows, s_rows, w_t, b_t, w_s, b_s, tau):
    def emb(x, w, b):
        e = x @ w.T + b
        return e / np.linalg.norm(e, axis=1, keepdims=True)
    z = emb(s_rows, w_s, b_s) @ emb(t_rows, w_t, b_t).T / tau

    def ce(logits):
        m = logits.max(axis=1, keepdims=True)
        lse = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
        return (lse - np.diag(logits)).mean()
    return ce(z) + ce(z.T)


def test_crd_hand_computed_identity_embeddings():
    loss = CRDLoss(2, 2, 'point', embed_channels=2, temperature=0.5, num_samples=8,
                   loss_weight=0.8).double()
    with torch.no_grad():
        for lin in (loss.teacher_embed, loss.student_embed):
            lin.weight.copy_(torch.eye(2))
            lin.bias.zero_()
    feats = torch.tensor([[[3.0, 0.0], [0.0, 2.0]]], dtype=torch.float64)  # points e1, e2
    # logits = I / 0.5: each row CE = log(1 + e^-2), both directions
    expected = 0.8 * 2 * math.log(1 + math.exp(-2.0))
    assert loss(feats, feats).item() == pytest.approx(expected, rel=1e-12)


def test_crd_matches_reimplementation_and_samples():
    loss = randomize(CRDLoss(6, 4, 'bev', embed_channels=5, temperature=0.2, num_samples=64,
                             loss_weight=1.0).double(), seed=1)
    teacher, student = randn(2, 6, 3, 4, seed=5), randn(2, 4, 3, 4, seed=6)
    t_rows = teacher.flatten(2).transpose(1, 2).reshape(-1, 6).numpy()
    s_rows = student.flatten(2).transpose(1, 2).reshape(-1, 4).numpy()
    expected = _crd_numpy(t_rows, s_rows, loss.teacher_embed.weight.detach().numpy(),
                          loss.teacher_embed.bias.detach().numpy(),
                          loss.student_embed.weight.detach().numpy(),
                          loss.student_embed.bias.detach().numpy(), 0.2)
    assert loss(teacher, student).item() == pytest.approx(expected, rel=1e-10)
    assert [i.tolist() for i in loss.last_index] == [list(range(12))] * 2
    top = CRDLoss(6, 4, 'bev', num_samples=3, sampling='teacher_max').double()
    top(teacher, student)
    for b in range(2):
        cmax = teacher[b].flatten(1).amax(dim=0)
        assert set(top.last_index[b].tolist()) == set(cmax.topk(3).indices.tolist())
    rnd = CRDLoss(6, 4, 'bev', num_samples=5).double()
    rnd(teacher, student)
    assert [len(set(i.tolist())) for i in rnd.last_index] == [5, 5]


# ============================================================================ overhaul
def test_bn_margin_is_the_truncated_gaussian_mean():
    from scipy.stats import norm
    weight = torch.tensor([1.0, -2.0, 0.5, 1.0])
    bias = torch.tensor([0.0, 1.0, -0.3, 5.0])  # last: P(x < 0) = Phi(-5) < 1e-3
    margin = bn_margin(weight, bias)
    for c in range(3):
        s, m = abs(weight[c].item()), bias[c].item()
        # E[x | x < 0] for x ~ N(m, s^2), by numerical integration
        xs = np.linspace(m - 12 * s, 0.0, 200001)
        pdf = norm.pdf(xs, loc=m, scale=s)
        expected = np.trapz(xs * pdf, xs) / np.trapz(pdf, xs)
        assert margin[c].item() == pytest.approx(expected, rel=1e-6)
    assert margin[0].item() == pytest.approx(-math.sqrt(2 / math.pi), rel=1e-12)
    assert margin[3].item() == pytest.approx(-3.0)


def _unit_overhaul(**kwargs):
    loss = OverhaulKDLoss(1, 1, 'point', **kwargs).double()
    with torch.no_grad():
        loss.connector.conv.weight.fill_(1.0)
        bn = loss.connector.norm
        bn.weight.fill_(1.0)
        bn.bias.zero_()
        bn.running_mean.zero_()
        bn.running_var.fill_(1.0 - bn.eps)  # eval-mode BN is then the identity
    return loss.eval()


def test_overhaul_partial_l2_hand_computed():
    loss = _unit_overhaul(margin_source='bn', loss_weight=2.0)
    teacher_bn = torch.nn.BatchNorm2d(1)
    with torch.no_grad():  # margin of N(0, 1): -sqrt(2/pi) = -0.7979
        teacher_bn.weight.fill_(1.0)
        teacher_bn.bias.zero_()
    loss.bind_teacher_module(teacher_bn)
    m = -math.sqrt(2 / math.pi)
    assert loss.margin.item() == pytest.approx(m)
    teacher = torch.tensor([[[-2.0, -0.1, 0.5, -1.0]]], dtype=torch.float64)
    student = torch.tensor([[[-3.0, 0.0, 0.2, -0.5]]], dtype=torch.float64)
    # target = max(t, m) = [m, -0.1, 0.5, m]; counted where s > target or target > 0:
    # [F, T, T, T] -> (0.1)^2 + (0.3)^2 + (-0.5 - m)^2, mean over 4 elements, x2
    expected = 2.0 * (0.01 + 0.09 + (-0.5 - m) ** 2) / 4
    assert loss(teacher, student).item() == pytest.approx(expected, rel=1e-10)
    # margins estimated from the batch: mean of the negative teacher values (-3.1 / 3)
    feat = _unit_overhaul(margin_source='features')
    m2 = (-2.0 - 0.1 - 1.0) / 3
    target = [max(-2.0, m2), -0.1, 0.5, max(-1.0, m2)]
    src = [-3.0, 0.0, 0.2, -0.5]
    expected = sum((s - t) ** 2 for s, t in zip(src, target) if s > t or t > 0) / 4
    assert feat(teacher, student).item() == pytest.approx(expected, rel=1e-10)


def test_overhaul_bind_errors():
    loss = OverhaulKDLoss(4, 2, 'bev', margin_source='bn')
    with pytest.raises(RuntimeError, match='has no margins'):
        loss(torch.randn(1, 4, 2, 2), torch.randn(1, 2, 2, 2))
    with pytest.raises(ValueError, match=r"cfg\[0\]: .*BatchNorm layer .*got ReLU"):
        loss.bind_teacher_module(torch.nn.ReLU(), where='cfg[0]')
    with pytest.raises(ValueError, match='has 3 channels but teacher_channels=4'):
        loss.bind_teacher_module(torch.nn.BatchNorm2d(3))


# ============================================================================ Zhang & Ma
def test_attention_masks_hand_computed():
    feat = torch.tensor([[[[1.0, -3.0]], [[1.0, 1.0]]]], dtype=torch.float64)  # (1, 2, 1, 2)
    # spatial: mean_c |F| = [1, 2]; 2 softmax([1, 2] / 0.5)
    e = math.exp(2.0)
    sp = spatial_attention(feat, 0.5).flatten().tolist()
    assert sp == pytest.approx([2 / (1 + e), 2 * e / (1 + e)])
    # channel: mean_hw |F| = [2, 1]
    ch = channel_attention(feat, 0.5).flatten().tolist()
    assert ch == pytest.approx([2 * e / (1 + e), 2 / (1 + e)])
    const = torch.full((2, 3, 4, 5), -0.7, dtype=torch.float64)
    assert torch.allclose(spatial_attention(const, 0.5), torch.ones(2, 1, 4, 5,
                                                                    dtype=torch.float64))


@pytest.mark.parametrize('mask_source', ['teacher', 'mean'])
def test_attention_nonlocal_matches_reimplementation(mask_source):
    loss = randomize(AttentionNonLocalKDLoss(
        6, 4, temperature=0.5, mask_source=mask_source, feat_weight=0.7, attn_weight=1.3,
        nonlocal_weight=0.4, nonlocal_pool=2, loss_weight=2.0).double(), seed=2)
    teacher, student = randn(2, 6, 4, 6, seed=7), randn(2, 4, 4, 6, seed=8)

    def sp(x):
        s = torch.softmax(x.abs().mean(1).flatten(1) / 0.5, dim=1) * 24
        return s.view(2, 1, 4, 6)

    def ch(x):
        return (torch.softmax(x.abs().mean((2, 3)) / 0.5, dim=1) * 6).view(2, 6, 1, 1)

    with torch.no_grad():
        adapted = F.conv2d(student, loss.feat_adapter.conv.weight, loss.feat_adapter.conv.bias)
        if mask_source == 'teacher':
            ms, mc = sp(teacher), ch(teacher)
        else:
            ms, mc = (sp(teacher) + sp(adapted)) / 2, (ch(teacher) + ch(adapted)) / 2
        l_feat = ((teacher - adapted) ** 2 * ms * mc).mean()
        l_att = (sp(teacher) - sp(adapted)).abs().mean() + (ch(teacher) - ch(adapted)).abs().mean()
        pool_t, pool_s = F.avg_pool2d(teacher, 2), F.avg_pool2d(student, 2)
        rel_t = loss.teacher_non_local(pool_t)
        rel_s = F.conv2d(loss.student_non_local(pool_s), loss.nonlocal_adapter.conv.weight,
                         loss.nonlocal_adapter.conv.bias)
        l_nl = ((rel_t - rel_s) ** 2).mean()
    expected = 2.0 * (0.7 * l_feat + 1.3 * l_att + 0.4 * l_nl)
    assert loss(teacher, student).item() == pytest.approx(expected.item(), rel=1e-10)
    assert loss.last_components['nonlocal_'].item() == pytest.approx(l_nl.item(), rel=1e-10)
    assert l_nl.item() > 0 and l_att.item() > 0
    with pytest.raises(ValueError, match=r"feature_layout in \('bev',\)"):
        AttentionNonLocalKDLoss(6, 4, feature_layout='voxel')


# ============================================================================ gradients
FEATURE_LOSSES = {
    'fitnets': lambda: FitNetsLoss(6, 4, 'bev'),
    'at': lambda: AttentionTransferLoss(6, 4, 'bev'),
    'sp': lambda: SimilarityPreservingLoss(6, 4, 'bev'),
    'crd': lambda: CRDLoss(6, 4, 'bev', num_samples=16),
    'overhaul': lambda: OverhaulKDLoss(6, 4, 'bev', margin_source='features'),
    'agnl': lambda: AttentionNonLocalKDLoss(6, 4, nonlocal_pool=2),
}


@pytest.mark.parametrize('name', list(FEATURE_LOSSES))
def test_gradients_reach_student_and_adapters_never_the_teacher(name):
    loss = FEATURE_LOSSES[name]().train()
    teacher = torch.randn(2, 6, 4, 6, requires_grad=True)
    student = torch.randn(2, 4, 4, 6, requires_grad=True)
    value = loss(teacher, student)
    assert value.dtype == torch.float32 and value.dim() == 0 and value.item() > 0
    value.backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0
    for pname, p in loss.named_parameters():
        assert p.grad is not None, pname
    if name == 'agnl':  # NonLocal2d's output conv starts at zero (as in the released code):
        # only it gets a gradient on the first step, the embeddings follow once it moves
        assert loss.teacher_non_local.conv_out.conv.weight.grad.abs().sum() > 0
        assert loss.feat_adapter.conv.weight.grad.abs().sum() > 0
    else:
        assert all(p.grad.abs().sum() > 0 for p in loss.parameters())


def test_voxel_layout_equals_bev_on_the_same_elements():
    teacher, student = randn(2, 6, 1, 10, seed=9), randn(2, 4, 1, 10, seed=10)
    rows_t = teacher.flatten(2).transpose(1, 2).reshape(-1, 6)
    rows_s = student.flatten(2).transpose(1, 2).reshape(-1, 4)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(1))
    bidx = torch.arange(2).repeat_interleave(10)[perm]
    for cls, kw in ((FitNetsLoss, {}), (CRDLoss, dict(num_samples=100)),
                    (OverhaulKDLoss, dict(margin_source='features'))):
        bev = randomize(cls(6, 4, 'bev', **kw).double(), seed=3)
        vox = cls(6, 4, 'voxel', **kw).double()
        vox.load_state_dict(bev.state_dict())
        assert vox(rows_t[perm], rows_s[perm], batch_idx=bidx).item() == pytest.approx(
            bev(teacher, student).item(), rel=1e-10), cls.__name__


def test_feature_loss_input_errors():
    loss = FitNetsLoss(6, 4, 'bev')
    with pytest.raises(ValueError, match='student_feat has 5 channels but student_channels=4'):
        loss(torch.randn(1, 6, 2, 2), torch.randn(1, 5, 2, 2))
    with pytest.raises(ValueError, match=r"feature_layout='bev' expects teacher_feat of shape"):
        loss(torch.randn(6, 2), torch.randn(1, 4, 2, 2))
    with pytest.raises(ValueError, match='must describe the same elements'):
        loss(torch.randn(1, 6, 2, 2), torch.randn(1, 4, 2, 3))
    with pytest.raises(ValueError, match="batch_idx .* is required for feature_layout='voxel'"):
        FitNetsLoss(6, 4, 'voxel')(torch.randn(3, 6), torch.randn(3, 4))
    with pytest.raises(ValueError, match="supports feature_layout in \\('bev', 'point'\\)"):
        AttentionTransferLoss(6, 4, 'voxel')
    with pytest.raises(ValueError, match='temperature must be a finite number > 0'):
        CRDLoss(6, 4, 'bev', temperature=0)


# ============================================================================ SE-SSD
def _se_ssd(**kwargs):
    # 4 x 4 grid over x in [0, 8], y in [-4, 4]: anchor centres x, y in {1, 3, 5, 7} x
    # {-3, -1, 1, 3}; one size (a car), rotations 0 and pi/2 -> A = 2 anchors per cell
    return SESSDConsistencyLoss(
        anchor_generator=dict(type='AlignedAnchor3DRangeGenerator',
                              ranges=[[0, -4, -1.78, 8, 4, -1.78]], sizes=[[3.9, 1.6, 1.56]],
                              rotations=[0, 1.57], reshape_out=False),
        bbox_coder=dict(type='DeltaXYZWLHRBBoxCoder'), num_classes=1, **kwargs)


def _head_out(logits, deltas):
    """(H, W, A) logits and (H, W, A, 7) deltas -> Anchor3DHead-style (B=1) outputs."""
    cls = logits.permute(2, 0, 1).unsqueeze(0)  # (1, A*C, H, W) with C = 1
    bbox = deltas.reshape(4, 4, 14).permute(2, 0, 1).unsqueeze(0)
    return ([cls], [bbox], [torch.zeros(1, 4, 4, 4)])


def test_se_ssd_consistency_hand_computed():
    loss = _se_ssd(iou_thr=0.7, score_thr=0.3, nms_thr=0.01, beta=1 / 9, box_weight=1.0,
                   cls_weight=2.0, loss_weight=1.5)
    t_logits = torch.full((4, 4, 2), -10.0)
    t_logits[0, 0, 0] = 3.0  # box at (1, -3)
    t_logits[3, 3, 0] = 3.0  # box at (7, 3)
    s_logits = t_logits.clone()
    s_logits[0, 0, 0] = 4.0
    s_logits[0, 3, 0] = 3.0  # a student box at (7, -3) without a teacher box
    t_deltas = torch.zeros(4, 4, 2, 7)
    s_deltas = torch.zeros(4, 4, 2, 7, requires_grad=True)
    with torch.no_grad():
        s_deltas[0, 0, 0, 0] = 0.05  # x + 0.05 * diag(3.9, 1.6)
        s_deltas[3, 3, 0, 6] = 0.1  # yaw + 0.1
    teacher_out = _head_out(t_logits, t_deltas)
    value = loss(teacher_out, _head_out(s_logits, s_deltas))
    assert loss.last_stats == dict(num_teacher=2, num_student=3, num_pairs=2)
    # the teacher's kept boxes are the anchors of the two cells (deltas 0)
    cls, deltas, anchors = loss.flatten_level_outputs(teacher_out[0], teacher_out[1])
    _, boxes = loss.select(cls[0], deltas[0], anchors)
    centres = sorted(tuple(round(v, 5) for v in b) for b in boxes[:, :2].tolist())
    assert centres == [(1.0, -3.0), (7.0, 3.0)]
    beta = 1 / 9
    dx = 0.05 * math.hypot(3.9, 1.6)  # 0.2108 > beta: |d| - beta / 2
    dyaw = math.sin(0.1)  # 0.0998 < beta: d^2 / (2 beta)
    box = ((dx - beta / 2) + dyaw ** 2 / (2 * beta)) / 7
    dcls = 1 / (1 + math.exp(-4.0)) - 1 / (1 + math.exp(-3.0))
    cls_term = dcls ** 2 / (2 * beta)
    expected = 1.5 * (1.0 * box + 2.0 * cls_term) / 3  # N' = 3 student boxes
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    g = s_deltas.grad
    assert g[0, 0, 0, 0] > 0 and g[3, 3, 0, 6] > 0 and g[0, 3].abs().sum() == 0
    # no teacher box above the score threshold: a zero still connected to the student
    zero = loss(_head_out(torch.full((4, 4, 2), -10.0), t_deltas),
                _head_out(s_logits, s_deltas))
    assert zero.item() == 0 and zero.requires_grad
    assert loss.last_stats['num_pairs'] == 0


def test_se_ssd_binds_the_teacher_head_and_refuses_others():
    cfg = Config.fromfile(str(REPO / 'configs/_base_/students/'
                              'pointpillars-4x_hv_secfpn_8xb6-160e_kitti-3d-3class.py'))
    head = MODELS.build(cfg.model.bbox_head)
    loss = SESSDConsistencyLoss()
    with pytest.raises(RuntimeError, match='has no anchor generator'):
        loss(([torch.zeros(1, 18, 2, 2)], [torch.zeros(1, 42, 2, 2)]),
             ([torch.zeros(1, 18, 2, 2)], [torch.zeros(1, 42, 2, 2)]))
    loss.bind_teacher_module(head, where='distill_cfg[0]')
    assert loss.prior_generator is head.prior_generator and loss.num_classes == 3
    assert not any(True for _ in loss.parameters())
    with pytest.raises(ValueError, match=r'distill_cfg\[0\]: .*anchor head'):
        SESSDConsistencyLoss().bind_teacher_module(torch.nn.Conv2d(1, 1, 1), 'distill_cfg[0]')
    with pytest.raises(ValueError, match="works on feature_layout='head'"):
        SESSDConsistencyLoss(feature_layout='bev')


# ============================================================================ configs
@pytest.fixture(scope='module')
def kitti(tmp_path_factory):
    """Real frame 000008 (cropped), one random teacher checkpoint for every config."""
    if not (KITTI_REAL / '000008.pkl').is_file():
        pytest.fail(f'real KITTI frame not found under {KITTI_REAL}')
    from mmengine.registry import init_default_scope
    from mmdet3d_pointdistiller.testing import kd_config
    init_default_scope('mmdet3d')  # as the helpers' former home, test_distiller, did on import
    from mmdet3d_pointdistiller.utils import load_kitti_frame
    item = load_kitti_frame(KITTI_REAL, PP_CROP, train=True)
    assert len(item['data_samples'].gt_instances_3d) >= 1
    cfg = kd_config(KD_METHODS / f'fitnets{SUFFIX}', PP_CROP)
    ckpt = tmp_path_factory.mktemp('kd_methods') / 'teacher.pth'
    save_random_teacher(cfg.model.teacher, ckpt)
    return dict(item=item, ckpt=str(ckpt), kd_config=kd_config)


def _model_cfg(kitti, method, edit=None):
    cfg = kitti['kd_config'](KD_METHODS / f'{method}{SUFFIX}', PP_CROP)
    cfg.model.teacher_ckpt = kitti['ckpt']
    if edit is not None:
        edit(cfg.model)
    return cfg.model


def _build(model_cfg):
    model = MODELS.build(copy.deepcopy(model_cfg))
    model.init_weights()
    return model


def test_config_inventory_and_inheritance():
    names = sorted(p.name for p in KD_METHODS.glob('*.py'))
    assert names == sorted(f'{m}{SUFFIX}' for m in METHODS)
    # the paper's design: the base of the KD-method and ablation configs
    pd = Config.fromfile(str(REPO / f'configs/pointdistiller/pointdistiller-paper{SUFFIX}'))
    loaded = {m: Config.fromfile(str(KD_METHODS / f'{m}{SUFFIX}')) for m in METHODS}
    for method, cfg in loaded.items():
        # the same teacher, checkpoint, student, data and schedule as PointDistiller
        for key in ('teacher', 'teacher_ckpt', 'student', 'teacher_norm_eval'):
            assert cfg.model[key] == pd.model[key], (method, key)
        for key in ('train_dataloader', 'val_evaluator', 'optim_wrapper', 'param_scheduler',
                    'train_cfg'):
            assert cfg[key] == pd[key], (method, key)
        dumped = Config.fromstring(cfg.pretty_text, file_format='.py')
        assert dumped.model.to_dict() == cfg.model.to_dict()
    abl = {m: loaded[m].model.distill_cfg for m in ('ld-only', 'rl-only', 'ld-rl')}
    assert [(a[0].loss.local, a[0].loss.reweight) for a in abl.values()] == [
        (True, False), (False, True), (True, True)]
    assert abl['ld-rl'] == pd.model.distill_cfg  # LD + RL is PointDistiller itself
    for m in ('ld-only', 'rl-only'):  # nothing else differs
        strip = {k: v for k, v in abl[m][0].loss.items() if k not in ('local', 'reweight')}
        assert strip == {k: v for k, v in pd.model.distill_cfg[0].loss.items()
                         if k not in ('local', 'reweight')}


@pytest.mark.parametrize('method', METHODS)
def test_config_trains_one_step_on_the_real_frame(kitti, method):
    model_cfg = _model_cfg(kitti, method)
    model = _build(model_cfg)
    taps = [t.name for t in model.taps]
    teacher_before = {k: v.clone() for k, v in model.teacher.state_dict().items()}
    student_before = {k: v.clone() for k, v in model.student.state_dict().items()}
    optim = build_optim_wrapper(model, dict(type='OptimWrapper',
                                            optimizer=dict(type='AdamW', lr=1e-3)))
    model.train()
    log = model.train_step(pseudo_collate([copy.deepcopy(kitti['item'])]), optim)
    assert {'loss_cls', 'loss_bbox', 'loss_dir'} <= set(log)
    for name in taps:
        value = float(log[f'loss_pd_{name}'])
        assert math.isfinite(value)
        if method != 'se-ssd':  # a random teacher has no confident box (see the next test)
            assert value > 0, (name, value)
    for k, v in model.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    changed = [k for k, v in model.student.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, student_before[k])]
    assert 'voxel_encoder.pfn_layers.0.linear.weight' in changed
    prefixes = {k.split('.')[0] for k in model.state_dict()}
    # adapters and buffers live in the distiller (AT has none), never in the student
    assert prefixes == {'student', 'teacher'} | (
        {'distill_losses'} if model.distill_losses.state_dict() else set())


def test_overhaul_taps_are_pre_relu_and_need_clone_output(kitti):
    model = _build(_model_cfg(kitti, 'overhaul'))
    seen = {}

    def grab(name):
        def hook(module, args):
            seen[name] = (args[0].detach().clone(), args[1].detach().clone())
        return hook

    for name in ('ofd_0', 'ofd_1', 'ofd_2'):
        model.distill_losses[name].register_forward_pre_hook(grab(name))
    model.train()
    data = model.data_preprocessor(pseudo_collate([copy.deepcopy(kitti['item'])]), True)
    model.loss(data['inputs'], data['data_samples'])
    for name, (t, s) in seen.items():  # both sides still hold negative (pre-ReLU) values
        assert t.min() < 0 and s.min() < 0, name
    # the margins come from the tapped teacher BatchNorms
    bn = model.teacher.backbone.blocks[1][16]
    assert torch.allclose(model.distill_losses['ofd_1'].margin,
                          bn_margin(bn.weight, bn.bias).float())
    assert bool(model.distill_losses['ofd_1'].margin_bound)

    def no_clone(m):
        for tap in m.distill_cfg:
            tap.clone_output = False

    model = _build(_model_cfg(kitti, 'overhaul', no_clone))
    model.train()
    with pytest.raises(RuntimeError, match=r'distill_cfg\[0\]: the output of teacher\.backbone'
                                           r'\.blocks\.0\.10 was modified in place.*'
                                           r'clone_output=True'):
        model.loss(data['inputs'], data['data_samples'])


def test_se_ssd_step_matches_pairs_and_trains_the_student_head(kitti):
    model = _build(_model_cfg(kitti, 'se-ssd'))
    # identical constant predictions from both heads (zero weights, the same class biases),
    # the student's boxes shifted in x and its scores raised: every kept box is a pair
    with torch.no_grad():
        for head, dx, dlogit in ((model.teacher.bbox_head, 0.0, 0.0),
                                 (model.student.bbox_head, 0.05, 0.5)):
            for conv in (head.conv_cls, head.conv_reg):
                conv.weight.zero_()
                conv.bias.zero_()
            head.conv_cls.bias.copy_(torch.linspace(-1.0, 2.0, 18) + dlogit)
            head.conv_reg.bias.view(6, 7)[:, 0] = dx
    model.train()
    data = model.data_preprocessor(pseudo_collate([copy.deepcopy(kitti['item'])]), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    stats = model.distill_losses['consistency'].last_stats
    assert stats['num_teacher'] > 0 and stats['num_pairs'] == stats['num_student'] > 0
    value = losses['loss_pd_consistency']
    assert value.item() > 0
    value.backward()
    assert model.student.bbox_head.conv_reg.bias.grad.abs().sum() > 0
    assert model.student.bbox_head.conv_cls.bias.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.teacher.parameters())


def test_build_errors_name_the_config_key(kitti):
    def wrong_width(m):
        m.distill_cfg[0].loss.teacher_channels = 128

    with pytest.raises(ValueError, match=r"distill_cfg\[0\]\.loss\.teacher_channels=128 .*"
                                         r"'neck' \(SECONDFPN, output=0\) outputs 384"):
        MODELS.build(_model_cfg(kitti, 'fitnets', wrong_width))

    def no_layout(m):
        del m.distill_cfg[0].loss['feature_layout']

    with pytest.raises(ValueError, match=r"distill_cfg\[0\]\.loss\.feature_layout='voxel' .*"
                                         r"set distill_cfg\[0\]\.loss\.feature_layout='head'"):
        MODELS.build(_model_cfg(kitti, 'se-ssd', no_layout))

    def head_elsewhere(m):
        m.distill_cfg[0].module = 'neck'

    with pytest.raises(ValueError, match=r"feature_layout='head' taps the detector's head"):
        MODELS.build(_model_cfg(kitti, 'se-ssd', head_elsewhere))

    def bn_margin_on_block(m):
        m.distill_cfg[0].module = 'backbone'
        m.distill_cfg[0].output = 0

    with pytest.raises(ValueError, match=r'distill_cfg\[0\] \(teacher\.backbone\): '
                                         r".*BatchNorm layer"):
        MODELS.build(_model_cfg(kitti, 'overhaul', bn_margin_on_block))


KD_BASE = REPO / 'configs' / '_base_' / 'kd_methods' / 'pointpillars_kd_methods.py'
KD_VARS = {'fitnets': 'kd_fitnets', 'attention-transfer': 'kd_attention_transfer',
           'se-ssd': 'kd_se_ssd', 'similarity-preserving': 'kd_similarity_preserving',
           'crd': 'kd_crd', 'overhaul': 'kd_overhaul',
           'attention-nonlocal': 'kd_attention_nonlocal'}
SIM_PD = sorted((REPO / 'configs' / 'sim').glob('pointdistiller_pointpillars-4x_*sim*.py'))


def test_kitti_configs_use_the_shared_taps():
    base = Config.fromfile(str(KD_BASE))
    assert 'model' not in base and sorted(k for k in base if k.startswith('kd_')) == sorted(
        KD_VARS.values())
    for method, var in KD_VARS.items():
        text = (KD_METHODS / f'{method}{SUFFIX}').read_text()
        assert f'distill_cfg=_base_.{var})' in text and KD_BASE.name in text


@pytest.mark.skipif(not SIM_PD, reason='no PointDistiller config for the simulated dataset in '
                                       'configs/sim/')
def test_shared_taps_compose_with_the_sim_pointdistiller_config(kitti, tmp_path):
    """The seven methods on the simulated-dataset grid: `_base_ = [sim PD config, taps]`."""
    from mmdet3d_pointdistiller.models.distillers import load_teacher_config
    from mmdet3d_pointdistiller.utils import load_kitti_frame
    sim = Config.fromfile(str(SIM_PD[0]))
    ckpt = tmp_path / 'sim_teacher.pth'
    save_random_teacher(load_teacher_config(sim.model.teacher), ckpt)
    pcr = sim.model.student.voxel_encoder.point_cloud_range
    item = load_kitti_frame(KITTI_REAL, pcr, train=True)  # the real frame on the sim grid
    for method, var in KD_VARS.items():
        path = tmp_path / f'{method}_sim.py'
        path.write_text(f"_base_ = ['{SIM_PD[0]}', '{KD_BASE}']\n"
                        f"model = dict(distill_cfg=_base_.{var})\n")
        cfg = Config.fromfile(str(path))
        cfg.model.teacher_ckpt = str(ckpt)
        model = _build(cfg.model)
        model.train()
        data = model.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        kd = {k: float(v) for k, v in losses.items() if k.startswith('loss_pd_')}
        assert len(kd) == len(cfg.model.distill_cfg), method
        assert all(math.isfinite(v) for v in kd.values()), (method, kd)
        if method != 'se-ssd':  # a random teacher has no confident box for SE-SSD to match
            assert all(v > 0 for v in kd.values()), (method, kd)
