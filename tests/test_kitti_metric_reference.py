"""mmdet3d's KITTI evaluation on the CPU path (the ``kitti_cpu_iou`` shim) against a reference
written here: exact polygon IoU (shapely) and the official devkit's AP40 protocol
(``eval.cpp``: a detection matches a ground truth when the overlap is strictly above the class
threshold; precision is sampled at the scores where recall passes 0, 1/40, ..., 1; each sample
takes the best precision at or beyond it; AP40 sums samples 1 to 40 and divides by 40).

The scene: cars with random headings, far apart, all "easy" (2D height 50 px, no truncation or
occlusion). Each car gets a detection moved along its heading so that its BEV/3D IoU is a chosen
value around 0.7 and 0.5 (computed exactly), plus unmatched false positives, with distinct
scores in an interleaved order. Identical detections would pass with any IoU routine that
returns 1 on equal boxes; these do not.
"""
import numpy as np
import pytest
from shapely.geometry import Polygon

import mmdet3d_pointdistiller  # noqa: F401  activates the CPU IoU shim without CUDA
from mmdet3d.evaluation.functional import kitti_eval

L, H, W = 4.0, 1.5, 1.8  # car length, height, width (m)


def bev_polygon(x, z, ry):
    """Camera-frame BEV footprint (x, z) of a KITTI box with yaw ``ry`` about the y axis."""
    c, s = np.cos(ry), np.sin(ry)
    corners = np.array([[L / 2, W / 2], [L / 2, -W / 2], [-L / 2, -W / 2], [-L / 2, W / 2]])
    # KITTI: the box's length axis is the camera x axis rotated by ry about y (x' = c x + s z,
    # z' = -s x + c z)
    return Polygon([(x + c * u + s * v, z - s * u + c * v) for u, v in corners])


def exact_iou(a, b):
    return a.intersection(b).area / a.union(b).area


def shift_for_iou(q):
    """Shift along the length axis giving IoU q for two equal boxes: (L - d) / (L + d) = q."""
    return L * (1 - q) / (1 + q)


def add_car(rec, box2d, x, z, ry, score=None):
    """Append one easy car (no truncation or occlusion) to a KITTI annotation dict of lists."""
    for key, value in (('name', 'Car'), ('truncated', 0.0), ('occluded', 0), ('alpha', 0.0),
                       ('bbox', box2d), ('dimensions', [L, H, W]), ('location', [x, 1.6, z]),
                       ('rotation_y', ry)):
        rec[key].append(value)
    if score is not None:
        rec['score'].append(score)


def annos(num_frames=10, per_frame=4, seed=0):
    rng = np.random.default_rng(seed)
    gts, dts, targets = [], [], []
    scores = iter((rng.permutation(num_frames * per_frame * 2) + 1.0)
                  / (num_frames * per_frame * 2))  # distinct, interleaved
    keys = ('name', 'truncated', 'occluded', 'alpha', 'bbox', 'dimensions', 'location',
            'rotation_y')
    for f in range(num_frames):
        g = {key: [] for key in keys}
        d = {key: [] for key in keys + ('score', )}
        for i in range(per_frame):
            x, z, ry = -15.0 + 10.0 * i, 20.0 + 3.0 * f, rng.uniform(-np.pi, np.pi)
            box2d = [100.0 + 150 * i, 150.0, 180.0 + 150 * i, 200.0]  # 50 px high
            add_car(g, box2d, x, z, ry)
            q = [0.85, 0.75, 0.62, 0.55, 0.40][(f * per_frame + i) % 5]
            dshift = shift_for_iou(q)
            dx, dz = np.cos(ry) * dshift, -np.sin(ry) * dshift
            targets.append(exact_iou(bev_polygon(x, z, ry), bev_polygon(x + dx, z + dz, ry)))
            add_car(d, box2d, x + dx, z + dz, ry, next(scores))
            if (f + i) % 3 == 0:  # an unmatched false positive 5 m to the side
                add_car(d, box2d, x + 5.0, z, ry, next(scores))
        gts.append({key: np.array(v) for key, v in g.items()})
        dts.append({key: np.array(v) for key, v in d.items()})
    return gts, dts, np.array(targets)


def reference_ap40(gts, dts, min_overlap):
    """The devkit's AP40 with exact IoU, for scenes where a detection can only overlap the
    ground truth it was made from (cars 10 m apart)."""
    tp_scores, det_scores, det_tp = [], [], []
    num_gt = 0
    for g, d in zip(gts, dts):
        num_gt += len(g['name'])
        gpolys = [bev_polygon(loc[0], loc[2], ry)
                  for loc, ry in zip(g['location'], g['rotation_y'])]
        for loc, ry, score in zip(d['location'], d['rotation_y'], d['score']):
            dpoly = bev_polygon(loc[0], loc[2], ry)
            best = max(exact_iou(dpoly, gp) for gp in gpolys)  # same heights: 3D IoU = BEV
            det_scores.append(score)
            det_tp.append(best > min_overlap)
            if best > min_overlap:
                tp_scores.append(score)
    tp_scores = sorted(tp_scores, reverse=True)
    thresholds, current = [], 0.0  # the devkit's getThresholds (41 sample points)
    for i, s in enumerate(tp_scores):
        left = (i + 1) / num_gt
        right = (i + 2) / num_gt if i < len(tp_scores) - 1 else left
        if right - current < current - left and i < len(tp_scores) - 1:
            continue
        thresholds.append(s)
        current += 1 / 40
    det_scores, det_tp = np.array(det_scores), np.array(det_tp)
    prec = np.zeros(41)
    for i, t in enumerate(thresholds):
        kept = det_scores >= t
        prec[i] = det_tp[kept].sum() / kept.sum()
    for i in range(41):
        prec[i] = prec[i:].max()
    return prec[1:].sum() / 40 * 100


def test_designed_ious_are_what_the_scene_says():
    _, _, targets = annos()
    for q in (0.85, 0.75, 0.62, 0.55, 0.40):
        assert np.isclose(targets, q, atol=1e-9).sum() == 8


def test_kitti_eval_on_cpu_matches_the_exact_reference():
    gts, dts, targets = annos()
    _, ret = kitti_eval(gts, dts, ['Car'], eval_types=['bbox', 'bev', '3d'])
    ref_strict = reference_ap40(gts, dts, 0.7)  # 16 of 40 cars matched at > 0.7
    ref_loose = reference_ap40(gts, dts, 0.5)  # 32 of 40 at > 0.5
    assert 5 < ref_strict < 40 and 40 < ref_loose < 80  # measured 13.31, 54.91: far from 0, 100
    for view in ('BEV', '3D'):
        for diff in ('easy', 'moderate', 'hard'):
            assert ret[f'KITTI/Car_{view}_AP40_{diff}_strict'] == pytest.approx(ref_strict,
                                                                                abs=1e-3)
            assert ret[f'KITTI/Car_{view}_AP40_{diff}_loose'] == pytest.approx(ref_loose,
                                                                               abs=1e-3)
