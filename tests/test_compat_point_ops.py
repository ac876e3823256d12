"""CPU point ops (kernels: ``ops``; dispatch: ``compat.point_ops_cpu``) and the spconv
CPU-backward shim (``compat.spconv_cpu``).

Every CPU op is checked against a direct, loop-based transcription of mmcv's CUDA kernel
(``mmcv/ops/csrc/common/cuda/*_cuda_kernel.cuh``) on small inputs with the edge cases the
kernels define (FPS tie-breaking of the block reduction, empty balls, padding, fewer points
than samples, missing neighbours, empty RoIs); gradients with ``gradcheck`` in float64; the
pruned rotated NMS against mmcv's own CPU kernel; and against mmcv's CUDA kernels where a
CUDA device exists.
"""
import importlib
import math

import mmcv.ops
import numpy as np
import pytest
import torch
from mmcv.ops import (RoIPointPool3d, ball_query, furthest_point_sample,
                      furthest_point_sample_with_dist, gather_points, grouping_operation,
                      three_interpolate, three_nn)
from mmcv.ops.furthest_point_sample import FurthestPointSampling
from mmcv.ops.gather_points import GatherPoints

import mmdet3d_pointdistiller  # noqa: F401  activates the shims
from mmdet3d_pointdistiller import ops as K
from mmdet3d_pointdistiller.compat import point_ops_cpu as P
from mmdet3d_pointdistiller.compat import spconv_cpu

F32 = np.float32
NMS_MODULE = importlib.import_module('mmcv.ops.nms')  # mmcv.ops.nms is the function
no_cuda = pytest.mark.skipif(torch.cuda.is_available(),
                             reason='the CPU shims are only active without CUDA')
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device to compare with mmcv's CUDA kernels")


# ------------------------------------------------------------- loop references of the kernels
def ref_fps(dist_fn, n: int, m: int) -> list:
    """furthest_point_sampling(_with_dist)_forward_cuda_kernel, threads and tree reduction."""
    block = max(min(1 << int(math.log(n) / math.log(2.0)), 1024), 1)
    temp = [F32(1e10)] * n
    idxs, old = [0], 0
    for _ in range(1, m):
        dists, dists_i = [F32(-1)] * block, [0] * block
        for tid in range(block):
            best, besti = F32(-1), 0
            for k in range(tid, n, block):
                d2 = min(dist_fn(old, k), temp[k])
                temp[k] = d2
                besti = k if d2 > best else besti
                best = d2 if d2 > best else best
            dists[tid], dists_i[tid] = best, besti
        thres = 1024
        while thres >= 2:
            half = thres // 2
            if block >= thres:
                for tid in range(half):
                    v1, v2 = dists[tid], dists[tid + half]
                    i1, i2 = dists_i[tid], dists_i[tid + half]
                    dists[tid] = max(v1, v2)
                    dists_i[tid] = i2 if v2 > v1 else i1
            thres //= 2
        old = dists_i[0]
        idxs.append(old)
    return idxs


def sq_dist32(a, b) -> F32:
    """The kernels' float ``(a - b)^2`` summed x, y, z, each step rounded."""
    d = [F32(a[i]) - F32(b[i]) for i in range(3)]
    return F32(F32(d[0] * d[0] + d[1] * d[1]) + d[2] * d[2])


def ref_ball_query(min_r, max_r, nsample, xyz, centers):
    out = np.zeros((len(centers), nsample), dtype=np.int32)
    max_r2, min_r2 = F32(max_r) * F32(max_r), F32(min_r) * F32(min_r)
    for m, c in enumerate(centers):
        cnt = 0
        for k, p in enumerate(xyz):
            d2 = sq_dist32(c, p)
            if d2 == 0 or (min_r2 <= d2 < max_r2):
                if cnt == 0:
                    out[m, :] = k
                out[m, cnt] = k
                cnt += 1
                if cnt >= nsample:
                    break
    return out


def ref_three_nn(unknown, known):
    dist = np.zeros((len(unknown), 3), dtype=np.float32)
    idx = np.zeros((len(unknown), 3), dtype=np.int32)
    for n, u in enumerate(unknown):
        best, besti = [1e40] * 3, [0] * 3
        for k, p in enumerate(known):
            d = float(sq_dist32(u, p))
            if d < best[0]:
                best, besti = [d, best[0], best[1]], [k, besti[0], besti[1]]
            elif d < best[1]:
                best, besti = [best[0], d, best[1]], [besti[0], k, besti[1]]
            elif d < best[2]:
                best[2], besti[2] = d, k
        with np.errstate(over='ignore'):  # 1e40 -> inf, as the kernel's double -> float store
            dist[n], idx[n] = np.array(best).astype(np.float32), besti
    return dist, idx


def ref_in_box(p, box) -> bool:
    x, y, z = (F32(v) for v in p)
    cx, cy, cz, dx, dy, dz, rz = (F32(v) for v in box)
    cz = F32(cz + dz / F32(2))
    if abs(F32(z - cz)) > dz / F32(2):
        return False
    cosa, sina = np.cos(-rz), np.sin(-rz)
    sx, sy = F32(x - cx), F32(y - cy)
    lx = F32(sx * cosa + sy * (-sina))
    ly = F32(sx * sina + sy * cosa)
    return bool(-dx / 2 < lx < dx / 2 and -dy / 2 < ly < dy / 2)


def ref_roipoint_pool(points, feats, boxes, num):
    pooled = np.zeros((len(boxes), num, 3 + feats.shape[1]), dtype=np.float32)
    empty = np.zeros(len(boxes), dtype=np.int32)
    for b, box in enumerate(boxes):
        inside = [k for k in range(len(points)) if ref_in_box(points[k], box)][:num]
        if not inside:
            empty[b] = 1
            continue
        for s in range(num):
            k = inside[s % len(inside)]
            pooled[b, s] = np.concatenate([points[k], feats[k]])
    return pooled, empty


def _cloud(n, seed, dup_every=0):
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(n, 3, generator=g) * torch.tensor([4.0, 4.0, 1.0])
    if dup_every:
        pts[dup_every::dup_every] = pts[:len(pts[dup_every::dup_every])]
    return pts.contiguous()


# -------------------------------------------------------------------------------------- FPS
@pytest.mark.parametrize('n,m,dup', [(37, 20, 0), (100, 100, 0), (50, 30, 5), (64, 64, 2),
                                     (5, 12, 0), (1, 3, 0), (300, 40, 3)])
def test_fps_matches_cuda_kernel_transcription(n, m, dup):
    pts = torch.stack([_cloud(n, 1, dup), _cloud(n, 2, dup)])
    out = furthest_point_sample(pts, m)
    assert out.dtype == torch.int32 and out.shape == (2, m)
    for b in range(2):
        p = pts[b].numpy()
        expect = ref_fps(lambda i, k: sq_dist32(p[k], p[i]), n, m)
        assert out[b].tolist() == expect
    assert (out[:, 0] == 0).all()


def test_fps_ties_follow_block_reduction_not_lowest_index():
    # N=32 (one block of 32 threads): points 1 and 2 are equally far from point 0; the
    # tree reduction prefers thread 2 (bit-reversed 01000) over thread 1 (10000), so the
    # kernel picks 2, not the lowest index 1; point 1 is then the farthest from {0, 2}
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(32, 3, generator=g) * 0.05
    pts[0], pts[1], pts[2] = torch.tensor([0.0, 0, 0]), torch.tensor([1.0, 0, 0]), \
        torch.tensor([0.0, 1, 0])
    out = furthest_point_sample(pts[None].contiguous(), 4)[0].tolist()
    p = pts.numpy()
    assert out == ref_fps(lambda i, k: sq_dist32(p[k], p[i]), 32, 4)
    assert out[:3] == [0, 2, 1]


def test_fps_exhausted_points_repeat_index_zero():
    base = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]])
    pts = base.repeat(20, 1).contiguous()[None]  # 40 points, 2 distinct
    out = furthest_point_sample(pts, 6)[0].tolist()
    p = pts[0].numpy()
    assert out == ref_fps(lambda i, k: sq_dist32(p[k], p[i]), 40, 6) == [0, 1, 0, 0, 0, 0]


def test_fps_with_dist_matches_kernel():
    pts = _cloud(45, 3, dup_every=4)
    dist = torch.cdist(pts, pts).pow(2).contiguous()[None]
    out = furthest_point_sample_with_dist(dist, 30)
    d = dist[0].numpy()
    assert out.dtype == torch.int32
    assert out[0].tolist() == ref_fps(lambda i, k: d[i, k], 45, 30)


def test_fps_rejects_empty_point_set():
    with pytest.raises(ValueError, match='empty'):
        K.furthest_point_sample_cpu(torch.zeros(1, 0, 3), 4)


# ------------------------------------------------------------------------------ ball query
@pytest.mark.parametrize('min_r,max_r,nsample', [(0.0, 0.6, 8), (0.3, 0.8, 5), (0.0, 0.05, 4),
                                                 (0.0, 10.0, 6)])
def test_ball_query_matches_kernel(min_r, max_r, nsample):
    xyz = torch.stack([_cloud(60, 4, dup_every=7), _cloud(60, 5)])
    centers = torch.cat([xyz[:, :6], torch.full((2, 3, 3), 50.0), xyz[:, 10:13] + 0.01], 1)
    out = ball_query(min_r, max_r, nsample, xyz, centers.contiguous())
    assert out.dtype == torch.int32 and out.shape == (2, 12, nsample)
    for b in range(2):
        expect = ref_ball_query(min_r, max_r, nsample, xyz[b].numpy(), centers[b].numpy())
        np.testing.assert_array_equal(out[b].numpy(), expect)
    assert (out[:, 6:9] == 0).all()  # empty ball: all zeros, as the kernel leaves it


def test_ball_query_zero_distance_counts_inside_min_radius():
    xyz = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [0.5, 0, 0], [0.0, 0, 0]]])
    ctr = torch.tensor([[[0.0, 0, 0]]])
    out = ball_query(0.2, 1.0, 4, xyz, ctr)
    # k=0 (d2 == 0), k=1 inside min radius: skipped, k=2, k=3 (d2 == 0); pads with k=0
    assert out[0, 0].tolist() == [0, 2, 3, 0]


def test_ball_query_large_point_set_uses_grid_and_matches_kernel():
    g = torch.Generator().manual_seed(6)
    xyz = (torch.rand(1, 2100, 3, generator=g) * torch.tensor([20.0, 20.0, 2.0])).contiguous()
    xyz[0, 1500:1600] = xyz[0, 100:200]  # duplicates
    ctr = torch.cat([xyz[:, ::60], torch.tensor([[[float('nan'), 0, 0], [1e3, 1e3, 0]]])], 1)
    out = ball_query(0.0, 1.5, 16, xyz, ctr.contiguous())
    expect = ref_ball_query(0.0, 1.5, 16, xyz[0].numpy(), ctr[0].numpy())
    np.testing.assert_array_equal(out[0].numpy(), expect)
    assert (out[0, -2:] == 0).all()


def test_stacked_ball_query_keeps_mmcv_behaviour():
    xyz, ctr = torch.rand(10, 3), torch.rand(4, 3)
    cnt = (torch.tensor([10], dtype=torch.int32), torch.tensor([4], dtype=torch.int32))
    with pytest.raises(RuntimeError, match='stack_ball_query_forward_impl'):
        ball_query(0, 0.5, 4, xyz, ctr, *cnt)


# -------------------------------------------------------------------- gather / group + grads
def test_gather_points_forward_and_gradient():
    g = torch.Generator().manual_seed(7)
    feats = torch.randn(2, 5, 9, generator=g, dtype=torch.float64)
    idx = torch.tensor([[0, 3, 3, 8, 1], [2, 2, 2, 0, 7]], dtype=torch.int32)
    out = gather_points(feats, idx)
    for b in range(2):
        for c in range(5):
            for m in range(5):
                assert out[b, c, m] == feats[b, c, idx[b, m]]
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: gather_points(f, idx), (feats, ))
    gather_points(feats, idx).sum().backward()
    assert feats.grad[1, :, 2].eq(3).all() and feats.grad[0, :, 4].eq(0).all()


def test_grouping_operation_forward_and_gradient():
    g = torch.Generator().manual_seed(8)
    feats = torch.randn(2, 4, 7, generator=g, dtype=torch.float64)
    idx = torch.randint(0, 7, (2, 3, 5), generator=g, dtype=torch.int32)
    out = grouping_operation(feats, idx)
    assert out.shape == (2, 4, 3, 5)
    for b in range(2):
        for m in range(3):
            for s in range(5):
                assert torch.equal(out[b, :, m, s], feats[b, :, idx[b, m, s]])
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: grouping_operation(f, idx), (feats, ))


# ------------------------------------------------------------------- three_nn / interpolate
@pytest.mark.parametrize('n_known', [1, 2, 3, 40, 600])
def test_three_nn_matches_kernel(n_known):
    unknown = _cloud(70, 9)[None]
    known = _cloud(n_known, 10)
    if n_known >= 40:
        known[5] = known[3]  # equal distances: the lower index comes first
        known[20] = unknown[0, 4]
    dist, idx = three_nn(unknown, known[None].contiguous())
    ref_d, ref_i = ref_three_nn(unknown[0].numpy(), known.numpy())
    assert idx.dtype == torch.int32
    np.testing.assert_array_equal(idx[0].numpy(), ref_i)
    np.testing.assert_array_equal(dist[0].numpy(), np.sqrt(ref_d))
    if n_known < 3:
        assert torch.isinf(dist[0, :, n_known:]).all() and (idx[0, :, n_known:] == 0).all()


def test_three_nn_pruned_search_equals_full_scan():
    # long strip: x-sorted target groups see only a narrow window of the 3000 sources
    g = torch.Generator().manual_seed(12)
    scale = torch.tensor([200.0, 3.0, 1.0])
    unknown = torch.rand(1, 2500, 3, generator=g) * scale
    known = torch.rand(1, 3000, 3, generator=g) * scale
    known[0, 2000:2100] = known[0, 100:200]  # equal distances
    unknown[0, :50] = known[0, 300:350]  # zero distances
    dist, idx = K.three_nn_cpu(unknown, known)
    # full scan: every squared distance, the three smallest, the lower index first on ties
    full_d, full_i = torch.sort(K.sq_dist(unknown[0], known[0]), dim=1, stable=True)
    assert torch.equal(idx[0], full_i[:, :3].int()) and torch.equal(dist[0], full_d[:, :3])


def test_three_interpolate_forward_and_gradient():
    g = torch.Generator().manual_seed(11)
    feats = torch.randn(2, 3, 6, generator=g, dtype=torch.float64)
    idx = torch.randint(0, 6, (2, 8, 3), generator=g, dtype=torch.int32)
    weight = torch.rand(2, 8, 3, generator=g, dtype=torch.float64)
    out = three_interpolate(feats, idx, weight)
    for b in range(2):
        for n in range(8):
            i, w = idx[b, n].long(), weight[b, n]
            expect = w[0] * feats[b, :, i[0]] + w[1] * feats[b, :, i[1]] + w[2] * feats[b, :, i[2]]
            assert torch.equal(out[b, :, n], expect)
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: three_interpolate(f, idx, weight), (feats, ))


# -------------------------------------------------------------- points in boxes / RoI pooling
def _boxes(t, seed, extent=4.0):
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(t, 3, generator=g) * torch.tensor([extent, extent, 0.5]) - \
        torch.tensor([0, 0, 0.3])
    size = torch.rand(t, 3, generator=g) * 1.5 + 0.3
    yaw = (torch.rand(t, 1, generator=g) - 0.5) * 2 * math.pi
    return torch.cat([ctr, size, yaw], 1)


def test_points_in_boxes_part_and_all_match_kernel():
    pts = torch.stack([_cloud(200, 12), _cloud(200, 13)])
    boxes = torch.stack([_boxes(9, 14), _boxes(9, 15)])
    boxes[0, 3] = boxes[0, 1]  # identical boxes: part reports the first
    boxes[1, 4, 3] = float('nan')  # NaN size contains nothing
    part = mmcv.ops.points_in_boxes_part(pts, boxes)
    full = mmcv.ops.points_in_boxes_all(pts, boxes)
    assert part.dtype == full.dtype == torch.int32
    for b in range(2):
        flags = np.array([[ref_in_box(p, box) for box in boxes[b].numpy()]
                          for p in pts[b].numpy()])
        np.testing.assert_array_equal(full[b].numpy(), flags.astype(np.int32))
        first = np.where(flags.any(1), flags.argmax(1), -1)
        np.testing.assert_array_equal(part[b].numpy(), first)
    assert (full[0, :, 1] == full[0, :, 3]).all() and not (part[0] == 3).any()
    assert full[0].sum() > 0 and not full[1, :, 4].any()


def test_points_in_boxes_many_boxes_through_mmdet3d_boxes():
    from mmdet3d.structures import LiDARInstance3DBoxes
    pts = _cloud(3000, 16) * torch.tensor([10.0, 10.0, 1.0])
    boxes = _boxes(400, 17, extent=40.0)
    boxes[7, 3:5] = 1e4  # one huge box covers everything in BEV
    part = LiDARInstance3DBoxes(boxes, origin=(0.5, 0.5, 0)).points_in_boxes_part(pts)
    flags = K.points_in_boxes_flags_cpu(pts, boxes)  # dense all-pairs evaluation
    np.testing.assert_array_equal(part.numpy(),
                                  torch.where(flags.any(1), flags.byte().argmax(1), -1).numpy())
    sub = torch.arange(0, 3000, 97)
    for k in sub.tolist():
        assert flags[k].tolist() == [ref_in_box(pts[k].numpy(), bx) for bx in boxes.numpy()]


def test_roipoint_pool3d_matches_kernel():
    pts = _cloud(150, 18)
    feats = torch.randn(150, 4, generator=torch.Generator().manual_seed(19))
    boxes = _boxes(6, 20)
    boxes[0] = torch.tensor([30.0, 30, 0, 1, 1, 1, 0])  # empty RoI
    boxes[1] = torch.tensor([*pts[10, :2], pts[10, 2] - 0.01, 0.02, 0.02, 0.05, 0.3])  # 1 pt
    pooled, empty = RoIPointPool3d(num_sampled_points=8)(pts[None], feats[None], boxes[None])
    ref_p, ref_e = ref_roipoint_pool(pts.numpy(), feats.numpy(), boxes.numpy(), 8)
    assert empty.dtype == torch.int32 and pooled.shape == (1, 6, 8, 7)
    np.testing.assert_array_equal(empty[0].numpy(), ref_e)
    np.testing.assert_array_equal(pooled[0].numpy(), ref_p)
    assert empty[0, 0] == 1 and (pooled[0, 0] == 0).all()
    assert (pooled[0, 1] == pooled[0, 1, :1]).all()  # one point repeated


# ---------------------------------------------------------------------------- rotated NMS
def _nms_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n // 10 + 1, 2, generator=g) * 30
    xy = centres[torch.randint(0, len(centres), (n, ), generator=g)] + \
        torch.randn(n, 2, generator=g) * 0.4
    wh = torch.rand(n, 2, generator=g) * 3 + 0.5
    a = (torch.rand(n, 1, generator=g) - 0.5) * 6
    boxes = torch.cat([xy, wh, a], 1)
    boxes[5] = boxes[4]  # duplicate box
    scores = torch.rand(n, generator=g)
    scores[::9] = scores[1]  # tied scores
    return boxes, scores


@pytest.mark.parametrize('thr', [0.1, 0.5, 0.85])
@pytest.mark.parametrize('clockwise', [True, False])
def test_nms_rotated_equals_mmcv_cpu_kernel(thr, clockwise):
    boxes, scores = _nms_boxes(700, 21)
    original = NMS_MODULE.nms_rotated.__wrapped__
    kept, keep = mmcv.ops.nms_rotated(boxes, scores, thr, clockwise=clockwise)
    ref_kept, ref_keep = original(boxes, scores, thr, None, clockwise)
    assert torch.equal(keep, ref_keep) and torch.equal(kept, ref_kept)
    assert 0 < len(keep) < len(boxes)


def test_nms_rotated_falls_back_to_mmcv_outside_the_proven_case():
    boxes, scores = _nms_boxes(80, 22)
    labels = torch.randint(0, 3, (80, ))
    original = NMS_MODULE.nms_rotated.__wrapped__
    assert not P._nms_rotated_fast_applicable(boxes, scores, 0.5, labels)
    assert torch.equal(mmcv.ops.nms_rotated(boxes, scores, 0.5, labels)[1],
                       original(boxes, scores, 0.5, labels)[1])
    boxes[3, 2] = float('inf')
    assert not P._nms_rotated_fast_applicable(boxes, scores, 0.5, None)


# ------------------------------------------------------------------- dispatch / activation
@no_cuda
def test_shims_dispatch_and_are_idempotent():
    from mmdet3d.structures.bbox_3d import base_box3d
    assert P.register_point_ops_cpu() and P.register_point_ops_cpu()
    fwd = FurthestPointSampling.__dict__['forward'].__func__
    assert fwd._pd_cpu_dispatch and not getattr(fwd.__wrapped__, '_pd_cpu_dispatch', False)
    assert GatherPoints.__dict__['backward'].__func__._pd_cpu_dispatch
    assert base_box3d.points_in_boxes_part is mmcv.ops.points_in_boxes_part
    assert mmcv.ops.points_in_boxes_part._pd_cpu_dispatch
    assert mmcv.ops.nms_rotated is NMS_MODULE.nms_rotated
    assert mmdet3d_pointdistiller.compat.ACTIVE['point_ops_cpu'] is True


@no_cuda
def test_shims_inactive_when_cuda_is_available(monkeypatch):
    original_fwd = P._original(FurthestPointSampling, 'forward')
    original_pib = P._original(mmcv.ops.points_in_boxes, 'points_in_boxes_part')
    assert original_fwd is not None and original_pib is not None
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    try:
        assert P.register_point_ops_cpu() is False
        assert FurthestPointSampling.__dict__['forward'] is original_fwd
        assert mmcv.ops.points_in_boxes_part is original_pib
        assert mmcv.ops.points_in_boxes.points_in_boxes_part is original_pib
        assert not hasattr(mmcv.ops.nms_rotated, '_pd_cpu_dispatch')
        assert spconv_cpu.register_spconv_cpu() is False
        import spconv.pytorch.ops as sp_ops
        assert not hasattr(sp_ops.get_current_stream, '_pd_spconv_cpu')
    finally:
        monkeypatch.undo()
        assert P.register_point_ops_cpu() is True
        assert spconv_cpu.register_spconv_cpu() is True
    assert FurthestPointSampling.__dict__['forward'].__func__._pd_cpu_dispatch


@no_cuda
def test_spconv_stream_query_returns_null_stream_without_cuda():
    pytest.importorskip('spconv', reason='spconv (setup.cfg extra "cpu") is not installed')
    import spconv.pytorch.ops as sp_ops
    assert spconv_cpu.register_spconv_cpu() and spconv_cpu.register_spconv_cpu()
    assert sp_ops.get_current_stream() == 0
    assert not getattr(sp_ops.get_current_stream.__wrapped__, '_pd_spconv_cpu', False)
    from spconv.pytorch import cppcore
    assert cppcore.get_current_stream is sp_ops.get_current_stream.__wrapped__


# --------------------------------------------------------------------- against CUDA kernels
@needs_cuda
@pytest.mark.gpu
def test_cpu_implementations_match_mmcv_cuda_kernels():
    cuda = torch.device('cuda')
    pts = torch.stack([_cloud(3000, 30, dup_every=11), _cloud(3000, 31)])
    assert torch.equal(K.furthest_point_sample_cpu(pts, 500),
                       furthest_point_sample(pts.to(cuda), 500).cpu())
    ctr = pts[:, ::7].contiguous()
    for args in [(0.0, 0.4, 16), (0.2, 0.8, 32)]:
        assert torch.equal(K.ball_query_cpu(*args, pts, ctr),
                           ball_query(*args, pts.to(cuda), ctr.to(cuda)).cpu())
    d, i = K.three_nn_cpu(pts, ctr)
    d_cuda, i_cuda = three_nn(pts.to(cuda), ctr.to(cuda))
    assert torch.equal(i, i_cuda.cpu()) and torch.equal(d.double().sqrt().float(), d_cuda.cpu())
    boxes = torch.stack([_boxes(50, 32), _boxes(50, 33)])
    assert torch.equal(K.points_in_boxes_all_cpu(pts, boxes),
                       mmcv.ops.points_in_boxes_all(pts.to(cuda), boxes.to(cuda)).cpu())
    assert torch.equal(K.points_in_boxes_part_cpu(pts, boxes),
                       mmcv.ops.points_in_boxes_part(pts.to(cuda), boxes.to(cuda)).cpu())
    feats = torch.randn(2, 3000, 5)
    cpu = K.roipoint_pool3d_cpu(pts, feats, boxes, 64)
    gpu = RoIPointPool3d(64)(pts.to(cuda), feats.to(cuda), boxes.to(cuda))
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
