"""KittiMetric on CPU: the rotated-IoU shim against exact polygon geometry and kitti_eval."""
import copy
import pickle
import sys

import numpy as np
import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401  activates the shims
from mmdet3d_pointdistiller.compat import kitti_iou
from mmdet3d_pointdistiller.compat.kitti_iou import rotate_iou_cpu_eval
from mmdet3d_pointdistiller.testing import data_root

DATA = data_root()


# ---------------------------------------------------------------- exact reference geometry
def _corners(box):
    """Corners of rotate_iou.py's convention: c + R(-angle) @ v, v in local (x, y)."""
    x, y, dx, dy, a = box
    cx = np.array([-dx / 2, -dx / 2, dx / 2, dx / 2])
    cy = np.array([-dy / 2, dy / 2, dy / 2, -dy / 2])
    c, s = np.cos(a), np.sin(a)
    return np.stack([c * cx + s * cy + x, -s * cx + c * cy + y], axis=1)


def _area(poly):
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _ccw(poly):
    x, y = poly[:, 0], poly[:, 1]
    signed = np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))
    return poly if signed > 0 else poly[::-1]


def _clip(subject, clipper):
    """Sutherland-Hodgman clipping of a polygon by a convex counter-clockwise polygon."""
    out = list(subject)
    for i in range(len(clipper)):
        a, b = clipper[i], clipper[(i + 1) % len(clipper)]
        inp, out = out, []
        if not inp:
            break

        def inside(p):
            return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0

        def cross(p, q):
            d1, d2 = q - p, b - a
            t = ((a[0] - p[0]) * d2[1] - (a[1] - p[1]) * d2[0]) / (d1[0] * d2[1] - d1[1] * d2[0])
            return p + t * d1

        for j in range(len(inp)):
            p, q = inp[j], inp[(j + 1) % len(inp)]
            if inside(q):
                if not inside(p):
                    out.append(cross(p, q))
                out.append(q)
            elif inside(p):
                out.append(cross(p, q))
    return np.array(out)


def exact_inter(b1, b2):
    return _area(_clip(_ccw(_corners(b1)), _ccw(_corners(b2))))


# -------------------------------------------------------------------------------- tests
def test_shim_active_on_this_cpu_machine():
    if torch.cuda.is_available():
        pytest.skip('CUDA present: the original numba kernel is used')
    from mmdet3d.evaluation.functional.kitti_utils import rotate_iou
    assert rotate_iou.rotate_iou_gpu_eval is rotate_iou_cpu_eval
    assert mmdet3d_pointdistiller.compat.ACTIVE['kitti_cpu_iou'] is True


def test_identical_boxes_iou_one():
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(-20, 20, (16, 2)), rng.uniform(0.5, 5, (16, 2)),
                            rng.uniform(-np.pi, np.pi, (16, 1))], axis=1).astype(np.float32)
    iou = rotate_iou_cpu_eval(boxes, boxes, -1)
    assert iou.shape == (16, 16) and iou.dtype == np.float32
    np.testing.assert_allclose(np.diag(iou), 1.0, atol=1e-5)


@pytest.mark.parametrize('criterion', [-1, 0, 1, 2])
def test_rotated_overlaps_match_exact_polygons(criterion):
    rng = np.random.default_rng(1)
    n = 24
    b1 = np.concatenate([rng.uniform(-2, 2, (n, 2)), rng.uniform(0.5, 4, (n, 2)),
                         rng.uniform(-np.pi, np.pi, (n, 1))], axis=1)
    b2 = np.concatenate([rng.uniform(-2, 2, (n, 2)), rng.uniform(0.5, 4, (n, 2)),
                         rng.uniform(-np.pi, np.pi, (n, 1))], axis=1)
    got = rotate_iou_cpu_eval(b1.astype(np.float32), b2.astype(np.float32), criterion)
    want = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            inter = exact_inter(b1[i], b2[j])
            a1, a2 = b1[i, 2] * b1[i, 3], b2[j, 2] * b2[j, 3]
            want[i, j] = {-1: inter / (a1 + a2 - inter), 0: inter / a1,
                          1: inter / a2}.get(criterion, inter)
    assert (want > 0.05).sum() > n  # the random set really has many partial overlaps
    np.testing.assert_allclose(got, want, atol=2e-4, rtol=1e-4)


def test_rotation_direction_is_clockwise_like_the_cuda_kernel():
    """A 4x1 box at the origin vs the same box rotated by +30 deg about a shifted centre.

    Mirroring the angle changes the overlap, so this pins the rotation direction.
    """
    a = np.array([[0., 0., 4., 1., 0.]])
    b = np.array([[1., 0.5, 4., 1., np.pi / 6]])
    b_mirror = np.array([[1., 0.5, 4., 1., -np.pi / 6]])
    got = rotate_iou_cpu_eval(a, b, 2)[0, 0]
    got_m = rotate_iou_cpu_eval(a, b_mirror, 2)[0, 0]
    assert abs(got - got_m) > 0.05
    assert got == pytest.approx(exact_inter(a[0], b[0]), abs=1e-4)
    assert got_m == pytest.approx(exact_inter(a[0], b_mirror[0]), abs=1e-4)


def test_empty_inputs():
    iou = rotate_iou_cpu_eval(np.zeros((0, 5), np.float32), np.ones((3, 5), np.float32))
    assert iou.shape == (0, 3)


def test_inactive_when_cuda_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    sentinel = object()
    module = type(sys)('fake_rotate_iou')
    module.rotate_iou_gpu_eval = sentinel
    monkeypatch.setitem(sys.modules, kitti_iou._EVAL_MODULE, module)
    assert kitti_iou.register_kitti_cpu_iou() is False
    assert module.rotate_iou_gpu_eval is sentinel


def test_cudasim_is_never_trusted(monkeypatch):
    from numba import config as numba_config
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(numba_config, 'ENABLE_CUDASIM', 1, raising=False)
    assert kitti_iou.kitti_cpu_iou_needed() is True


def _kitti_gt_frames(num_frames: int):
    """>= 40 frames from the mini KITTI set's Pedestrian and the real frame's Cars.

    Each frame gets the boxes with jittered BEV position and heading so the rotated-IoU
    code sees many geometries.
    """
    from mmdet3d.evaluation.metrics import KittiMetric
    mini = DATA / 'mmdet3d_kitti_mini/kitti_infos_train.pkl'
    real = DATA / 'kitti_real/000008.pkl'
    if not mini.exists() or not real.exists():
        pytest.fail(f'KITTI test data not found under {DATA}')
    infos = pickle.load(open(mini, 'rb'))
    real_infos = pickle.load(open(real, 'rb'))
    infos['data_list'][0]['instances'] += real_infos['data_list'][0]['instances']
    metric = KittiMetric(ann_file=str(mini))
    base = metric.convert_annos_to_kitti_annos(infos)[0]['kitti_annos']
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(num_frames):
        anno = copy.deepcopy(base)
        n = len(anno['name'])
        anno['location'][:, 0] += rng.uniform(-1, 1, n)
        anno['location'][:, 2] += rng.uniform(-1, 1, n)
        anno['rotation_y'] = rng.uniform(-np.pi, np.pi, n)
        frames.append(anno)
    return frames


def test_kitti_eval_detections_equal_to_gt_give_bev_3d_equal_2d():
    from mmdet3d.evaluation.functional import kitti_eval
    gt = _kitti_gt_frames(48)
    scores = np.random.default_rng(1).permutation(sum(len(g['name']) for g in gt)) + 1.0
    dt, k = [], 0
    for g in gt:
        d = copy.deepcopy(g)
        d['score'] = scores[k:k + len(g['name'])] / scores.max()
        k += len(g['name'])
        dt.append(d)
    assert len(np.unique(np.concatenate([d['score'] for d in dt]))) == k
    _, ret = kitti_eval(gt, dt, ['Car', 'Pedestrian'], eval_types=['bbox', 'bev', '3d'])
    checked = 0
    for cls in ['Car', 'Pedestrian']:
        for diff in ['easy', 'moderate', 'hard']:
            for mode in ['strict', 'loose']:
                ap2d = ret[f'KITTI/{cls}_2D_AP40_{diff}_{mode}']
                assert ret[f'KITTI/{cls}_BEV_AP40_{diff}_{mode}'] == pytest.approx(ap2d, abs=1e-4)
                assert ret[f'KITTI/{cls}_3D_AP40_{diff}_{mode}'] == pytest.approx(ap2d, abs=1e-4)
                checked += ap2d > 50
    assert checked >= 6  # not a vacuous 0 == 0 comparison
