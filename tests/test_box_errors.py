"""Box error statistics: matching, errors, slopes and the z / h oracle on known boxes."""
import numpy as np
import pytest

from mmdet3d_pointdistiller.experiments.box_errors import error_statistics, match_boxes


def _gt():
    return np.array([[10.0, 0.0, -1.6, 4.0, 1.8, 1.5, 0.1],
                     [20.0, 5.0, -1.7, 4.6, 1.9, 1.6, 1.2],
                     [30.0, -6.0, -1.5, 3.6, 1.7, 1.4, -0.4]])


def test_perfect_predictions():
    gt = _gt()
    # 1 cm off in x (mmcv's float32 rotated IoU is unreliable for boxes closer than ~10 um,
    # see README), yaw turned by 180 degrees: the same box for IoU, a zero wrapped yaw error
    pred = gt[[2, 0, 1]] + np.array([0.01, 0, 0, 0, 0, 0, np.pi])
    assert sorted((g, p) for g, p, _ in match_boxes(gt, pred)) == [(0, 1), (1, 2), (2, 0)]
    s = error_statistics([gt], [pred])
    assert s['matched'] == 3 and s['gt'] == 3
    assert s['error_mean']['x'] == pytest.approx(0.01)
    assert all(abs(v) < 1e-6 for k, v in s['error_mean'].items() if k != 'x')
    assert s['slope_pred_vs_gt'] == pytest.approx(dict(z=1.0, l=1.0, w=1.0, h=1.0), abs=1e-6)
    assert s['frac_iou3d_ge_0.7'] == 1.0 and 0.985 < s['iou3d_mean'] < 0.997


def test_constant_size_and_shifted_height_are_diagnosed():
    gt = _gt()
    pred = gt.copy()
    pred[:, 3:6] = gt[:, 3:6].mean(axis=0)  # one size for every box
    pred[:, 2] += 0.5  # 0.5 m too high
    s = error_statistics([gt], [pred])
    assert s['error_mean']['z'] == pytest.approx(0.5)
    assert s['slope_pred_vs_gt']['l'] == pytest.approx(0.0, abs=1e-9)
    assert s['frac_iou3d_ge_0.7'] < s['frac_iou3d_ge_0.7_gt_z_h']
    assert sum(s['iou3d_hist']['counts']) == 3
    # far-away predictions are not matched
    assert error_statistics([gt], [gt + np.array([100.0, 0, 0, 0, 0, 0, 0])]) is None
