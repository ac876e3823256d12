"""BEV pictures (mmdet3d_pointdistiller.vis, tools/visualize_bev.py) on the real KITTI frame.

Models are the simulated-data CPU configs (128 x 128 pillar grid) with random weights; the
PointDistiller checkpoint is written by the test (student + random teacher + adapters).
"""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import mmdet3d_pointdistiller  # noqa: F401
from mmdet3d_pointdistiller.testing import kitti_real_dir
from mmdet3d_pointdistiller.vis import bev
from mmdet3d_pointdistiller.apis import gt_from_info, load_detector, load_frame, predict_frame
from mmdet3d_pointdistiller.vis import (distiller_selection, plot_training_curves, read_scalars,
                                        render_bev)

REPO = Path(__file__).resolve().parents[1]
KITTI_REAL = kitti_real_dir()
BIN, PKL = KITTI_REAL / '000008.bin', KITTI_REAL / '000008.pkl'
SIM = REPO / 'configs' / 'sim'
TEACHER_CFG = SIM / 'pointpillars_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
STUDENT_CFG = SIM / 'pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'
KD_CFG = SIM / 'pointdistiller_pointpillars-4x_hv_secfpn_1xb2-cpu_sim-kitti-3d-3class.py'


def _need_kitti():
    if not BIN.is_file() or not PKL.is_file():
        pytest.fail(f'real KITTI frame 000008 not found under {KITTI_REAL}')


def _png_pixels(path):
    import matplotlib.image as mpimg
    img = mpimg.imread(str(path))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 200
    return img


@pytest.fixture(scope='module')
def kd_run(tmp_path_factory):
    """A random teacher checkpoint and a PointDistiller checkpoint built on it."""
    torch.manual_seed(0)
    tmp = tmp_path_factory.mktemp('bev')
    teacher, _ = load_detector(str(TEACHER_CFG))
    teacher_ckpt = tmp / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, teacher_ckpt)
    kd, _ = load_detector(str(KD_CFG), cfg_options={'model.teacher_ckpt': str(teacher_ckpt)})
    kd_ckpt = tmp / 'kd.pth'
    torch.save({'state_dict': kd.state_dict()}, kd_ckpt)
    return dict(tmp=tmp, teacher=teacher, teacher_ckpt=teacher_ckpt, kd_ckpt=kd_ckpt)


def test_gt_from_info_gives_the_real_cars_with_their_point_counts():
    _need_kitti()
    from mmcv.ops import points_in_boxes_cpu
    boxes, names = gt_from_info(str(PKL))
    assert boxes.shape == (6, 7) and names == ['Car'] * 6  # the 4 DontCare labels dropped
    pts = np.fromfile(BIN, dtype=np.float32).reshape(-1, 4)
    inside = points_in_boxes_cpu(torch.from_numpy(pts[None, :, :3]).contiguous(),
                                 torch.from_numpy(boxes[None]).float().contiguous())[0]
    # mmdet3d's converter counted exactly these points per box (num_lidar_pts of the info)
    assert inside.sum(0).tolist() == [1325, 1900, 881, 659, 55, 162]
    with pytest.raises(KeyError, match='no frame with sample index 9'):
        gt_from_info(str(PKL), 9)


def test_bev_box_corners_are_mmdet3d_box_geometry():
    boxes = np.array([[10., 2., -1., 4., 2., 1.5, 0.5], [5., -3., -1.5, 0.8, 0.6, 1.7, -2.0]])
    poly = bev.bev_box_corners(boxes)
    assert poly.shape == (2, 4, 2)
    for p, b in zip(poly, boxes):
        # shoelace area = dx * dy, centroid = box centre, front edge (corners 2, 3) ahead
        x, y = p[:, 0], p[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        assert area == pytest.approx(b[3] * b[4], rel=1e-5)
        np.testing.assert_allclose(p.mean(0), b[:2], atol=1e-5)
        front = (p[2] + p[3]) / 2 - b[:2]
        np.testing.assert_allclose(front, b[3] / 2 * np.array([math.cos(b[6]), math.sin(b[6])]),
                                   atol=1e-5)
    # plot frame: forward up, left to the left
    np.testing.assert_allclose(bev._to_plot(np.array([[10., 2.]])), [[-2., 10.]])


def test_predict_and_render_on_the_real_frame(tmp_path):
    _need_kitti()
    torch.manual_seed(0)
    model, cfg = load_detector(str(STUDENT_CFG))
    data = load_frame(cfg, str(BIN))
    pred = predict_frame(model, data)
    n = len(pred['scores'])
    assert pred['boxes'].shape == (n, 7) and pred['labels'].shape == (n, )
    assert n <= cfg.model.test_cfg.max_num
    assert (pred['scores'] >= cfg.model.test_cfg.score_thr).all()
    boxes, names = gt_from_info(str(PKL))
    out = render_bev(str(tmp_path / 'bev.png'), np.fromfile(BIN, np.float32).reshape(-1, 4),
                     gt_boxes=boxes, gt_names=names, pred=pred, class_names=['a', 'b', 'c'],
                     score_thr=0.0, point_cloud_range=cfg.point_cloud_range, title='t')
    img = _png_pixels(out)
    assert img[..., :3].std() > 0.05  # not a blank canvas
    with pytest.raises(FileNotFoundError, match='nope.bin'):
        load_frame(cfg, str(tmp_path / 'nope.bin'))


def test_distiller_selection_is_the_top_n_pillars_with_softmax_weights(kd_run):
    _need_kitti()
    # the config's teacher_ckpt does not exist: the teacher comes from the KD checkpoint
    model, cfg = load_detector(str(KD_CFG), str(kd_run['kd_ckpt']),
                               cfg_options={'model.teacher_ckpt': '/nonexistent/t.pth'})
    for k, v in kd_run['teacher'].state_dict().items():
        assert torch.equal(model.teacher.state_dict()[k], v), k
    data = load_frame(cfg, str(BIN))
    boxes, names = gt_from_info(str(PKL))
    sel = distiller_selection(model, data, boxes, [2] * len(boxes))
    assert list(sel) == ['pfn'] and not model.training
    s = sel['pfn']
    loss_cfg = cfg.model.distill_cfg[0].loss
    vox = model.data_preprocessor(data, False)['inputs']['voxels']
    num_points = vox['num_points']
    n = min(loss_cfg.num_queries, len(num_points))
    assert s['index'].shape == (n, ) and s['weight'].shape == (n, ) and s['xy'].shape == (n, 2)
    assert float(s['weight'].sum()) == pytest.approx(n, rel=1e-5)  # mean weight 1
    chosen = torch.zeros(len(num_points), dtype=torch.bool)
    chosen[s['index']] = True
    assert int(num_points[chosen].min()) >= int(num_points[~chosen].max())  # top-N
    np_sel = num_points[s['index']].double()
    ratio = (s['weight'][:, None] / s['weight'][None, :]).double()
    expected = torch.exp((np_sel[:, None] - np_sel[None, :]) / loss_cfg.temperature)
    torch.testing.assert_close(ratio, expected, rtol=1e-4, atol=0)
    # every selected pillar centre holds exactly its num_points raw points (capped at 32)
    pts = np.fromfile(BIN, np.float32).reshape(-1, 4)
    vs = s['voxel_size']
    for (x, y), cnt in zip(s['xy'][:40], np_sel[:40].long().tolist()):
        m = ((np.abs(pts[:, 0] - x) < vs[0] / 2) & (np.abs(pts[:, 1] - y) < vs[1] / 2)
             & (pts[:, 2] >= -3) & (pts[:, 2] < 1))
        assert min(int(m.sum()), 32) == cnt


def test_distiller_selection_refuses_a_plain_detector():
    model, _ = load_detector(str(STUDENT_CFG))
    with pytest.raises(TypeError, match='PointDistillerDetector with distill=True'):
        distiller_selection(model, {})


def test_visualize_bev_cli_on_the_real_frame(kd_run):
    _need_kitti()
    out = kd_run['tmp'] / 'cli.png'
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools/visualize_bev.py'), str(KD_CFG),
         str(kd_run['kd_ckpt']), str(BIN), '--info', str(PKL), '--out', str(out), '--score-thr',
         '0.05', '--cfg-options', 'model.teacher_ckpt=/nonexistent/t.pth'],
        capture_output=True, text=True, timeout=600, cwd=REPO,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    msg = proc.stdout
    assert f'wrote {out}' in msg and '6 ground-truth boxes' in msg
    assert '256 pillars selected' in msg
    _png_pixels(out)


def test_training_curves_from_scalars(tmp_path):
    runs = {}
    for name, kd in (('student', False), ('kd', True)):
        d = tmp_path / name / '20260101_000000' / 'vis_data'
        d.mkdir(parents=True)
        recs = []
        for it in (10, 20, 30):
            r = dict(iter=it, step=it, loss_cls=1.0 / it, loss_bbox=2.0 / it, loss_dir=0.1,
                     loss=3.0 / it + 0.1)
            if kd:
                r['loss_pd_pfn'] = 0.5 / it
            recs.append(r)
        recs.append({'Kitti metric/pred_instances_3d/KITTI/Overall_3D_AP40_moderate': 12.5,
                     'step': 30})
        (d / 'scalars.json').write_text('\n'.join(json.dumps(r) for r in recs) + '\n')
        runs[name] = str(tmp_path / name)
    got = read_scalars(runs['kd'])
    assert len(got) == 4 and bev.detection_loss(got[0]) == pytest.approx(1.0 / 10 + 2.0 / 10 + 0.1)
    out = plot_training_curves(runs, str(tmp_path / 'curves.png'))
    _png_pixels(out)
    with pytest.raises(FileNotFoundError, match='scalars.json'):
        read_scalars(str(tmp_path / 'missing'))
