"""Tests of the simulated KITTI-format dataset (mmdet3d_pointdistiller.sim).

The slow part (~60 s wall, a third of it ``time.sleep`` inside mmdet3d's converter) is one run of
the stock converter ``mim run mmdet3d create_data kitti --with-plane`` on a 4 + 12 frame set,
shared by the converter / dataset / metric tests and the CenterPoint ``mim train`` test through
the session fixture ``sim_kitti_small`` (``tests/conftest.py``).
"""
import copy
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from mmdet3d_pointdistiller import sim as sk
from mmdet3d_pointdistiller.testing import kitti_real_dir

KITTI_REAL = kitti_real_dir()
TARGETS = ('Car', 'Pedestrian', 'Cyclist')


def _calib_from_text(text: str) -> dict:
    out = {}
    for line in text.strip().splitlines():
        key, vals = line.split(':', 1)
        out[key] = np.array([float(v) for v in vals.split()])
    return out


def _camera_boxes(labels):
    """(K, 7) camera boxes x, y, z, l, h, w, ry (mmdet3d's order) from KITTI labels."""
    return np.array([[*lab.location, lab.dimensions[2], lab.dimensions[0], lab.dimensions[1],
                      lab.rotation_y] for lab in labels], dtype=np.float64).reshape(-1, 7)


def _parse_label_file(path: Path):
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [(r[0], [float(v) for v in r[1:]]) for r in rows]


# ----------------------------------------------------------------------------- pure simulator
def test_calib_is_the_real_kitti_calibration():
    if not KITTI_REAL.exists():
        pytest.fail(f'real KITTI frame not found at {KITTI_REAL}')
    calib = _calib_from_text(sk.CALIB_TEXT)
    assert list(calib) == ['P0', 'P1', 'P2', 'P3', 'R0_rect', 'Tr_velo_to_cam', 'Tr_imu_to_velo']
    p2_real = np.loadtxt(KITTI_REAL / '000008.txt').reshape(4, 4)
    np.testing.assert_allclose(calib['P2'].reshape(3, 4), p2_real[:3], rtol=1e-6, atol=1e-9)
    with open(KITTI_REAL / '000008.pkl', 'rb') as f:
        info = pickle.load(f)['data_list'][0]
    for cam, key in (('CAM0', 'P0'), ('CAM1', 'P1'), ('CAM2', 'P2'), ('CAM3', 'P3')):
        np.testing.assert_allclose(calib[key].reshape(3, 4),
                                   np.array(info['images'][cam]['cam2img'])[:3], rtol=1e-6)
    np.testing.assert_allclose(calib['R0_rect'].reshape(3, 3),
                               np.array(info['images']['R0_rect'])[:3, :3], atol=1e-6)
    for key in ('Tr_velo_to_cam', 'Tr_imu_to_velo'):
        np.testing.assert_allclose(calib[key].reshape(3, 4),
                                   np.array(info['lidar_points'][key])[:3], atol=1e-6)


def test_box_conversions_match_mmdet3d():
    from mmdet3d.structures import Box3DMode, CameraInstance3DBoxes, LiDARInstance3DBoxes
    from mmdet3d.structures.ops import box_np_ops
    rng = np.random.default_rng(0)
    lidar = np.column_stack([rng.uniform(2, 60, 20), rng.uniform(-20, 20, 20),
                             rng.uniform(-2, -1.5, 20), rng.uniform(0.5, 5, 20),
                             rng.uniform(0.5, 2, 20), rng.uniform(1, 2, 20),
                             rng.uniform(-np.pi, np.pi, 20)])
    rect = sk.CALIB['R0_rect']
    trv2c = sk.CALIB['Tr_velo_to_cam']

    def close(a, b, tol):
        d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
        d[:, 6] = (d[:, 6] + np.pi) % (2 * np.pi) - np.pi
        assert np.abs(d).max() < tol

    cam = sk.lidar_box_to_camera(lidar)
    close(cam, LiDARInstance3DBoxes(lidar).convert_to(Box3DMode.CAM, rect @ trv2c).tensor, 1e-4)
    close(box_np_ops.box_camera_to_lidar(cam, rect, trv2c), lidar, 1e-6)
    close(CameraInstance3DBoxes(cam).convert_to(Box3DMode.LIDAR, np.linalg.inv(rect @ trv2c))
          .tensor, lidar, 1e-4)
    close(sk.camera_box_to_lidar(cam), lidar, 1e-9)
    pts = rng.uniform([-5, -25, -3], [70, 25, 1], (3000, 3))
    np.testing.assert_array_equal(sk.points_in_lidar_boxes(pts, lidar),
                                  box_np_ops.points_in_rbbox(pts, lidar))


def test_deterministic_by_seed_and_independent_of_count(tmp_path):
    a = sk.simulate_frame(3, 5)
    b = sk.simulate_frame(3, 5)
    assert a.points.tobytes() == b.points.tobytes()
    assert list(sk.iter_label_lines(a)) == list(sk.iter_label_lines(b))
    c = sk.simulate_frame(4, 5)
    d = sk.simulate_frame(3, 6)
    for other in (c, d):
        assert other.points.shape != a.points.shape or not np.array_equal(other.points, a.points)
        assert list(sk.iter_label_lines(other)) != list(sk.iter_label_lines(a))
    # frame i of a dataset only depends on (seed, i), not on how many frames are generated
    sk.generate_dataset(tmp_path / 'small', 1, 1, seed=3, progress=False)
    sk.generate_dataset(tmp_path / 'big', 2, 1, seed=3, progress=False)
    for sub, ext in (('velodyne', 'bin'), ('label_2', 'txt')):
        f1 = (tmp_path / 'small' / 'training' / sub / f'000001.{ext}').read_bytes()
        f2 = (tmp_path / 'big' / 'training' / sub / f'000001.{ext}').read_bytes()
        assert f1 == f2
    pts = np.fromfile(tmp_path / 'small' / 'training' / 'velodyne' / '000000.bin',
                      dtype=np.float32).reshape(-1, 4)
    np.testing.assert_array_equal(pts, sk.simulate_frame(3, 0).points)
    assert (tmp_path / 'small' / 'ImageSets' / 'val.txt').read_text() == '000001\n'
    assert (tmp_path / 'big' / 'ImageSets' / 'trainval.txt').read_text() == \
        '000000\n000001\n000002\n'


@pytest.fixture(scope='module')
def frames():
    return [sk.simulate_frame(11, i) for i in range(8)]


def test_labelled_boxes_contain_their_points(frames):
    """Every labelled Car/Ped/Cyc box with >= 5 points contains all returns attributed to its
    object (mmdet3d's camera->LiDAR conversion of the written label, mmdet3d's
    ``points_in_rbbox``); those returns are most of what lies in the box."""
    from mmdet3d.structures.ops import box_np_ops
    rect, trv2c = sk.CALIB['R0_rect'], sk.CALIB['Tr_velo_to_cam']
    checked, foreign = 0, []
    for f in frames:
        labels = [lab for lab in f.labels if lab.type in TARGETS]
        assert len(labels) > 0
        lidar = box_np_ops.box_camera_to_lidar(_camera_boxes(labels), rect, trv2c)
        inside = box_np_ops.points_in_rbbox(f.points[:, :3], lidar)
        for j, lab in enumerate(labels):
            mine = f.point_obj == lab.obj
            assert mine.sum() == lab.num_points
            if lab.num_points < 5:
                continue
            checked += 1
            assert inside[mine, j].all(), (lab.type, lab.num_points, inside[mine, j].sum())
            foreign.append(1.0 - lab.num_points / inside[:, j].sum())
    assert checked >= 40
    # the rest is mostly ground grazing the box bottom, as in real KITTI boxes
    assert np.median(foreign) < 0.05 and np.mean(foreign) < 0.1


def test_label_fields_are_valid_and_consistent(frames):
    seen_occ, seen_diff = set(), set()
    car_dims = []
    for f in frames:
        for lab in f.labels:
            assert lab.type in sk.KITTI_LABEL_TYPES
            assert 0.0 <= lab.truncated <= 1.0
            assert lab.occluded in (0, 1, 2, 3)
            x1, y1, x2, y2 = lab.bbox
            assert 0 <= x1 < x2 <= sk.IMAGE_WIDTH - 1 and 0 <= y1 < y2 <= sk.IMAGE_HEIGHT - 1
            assert -math.pi <= lab.alpha <= math.pi and -math.pi <= lab.rotation_y <= math.pi
            assert min(lab.dimensions) > 0
            x, _, z = lab.location
            assert lab.alpha == pytest.approx(
                (lab.rotation_y - math.atan2(x, z) + math.pi) % (2 * math.pi) - math.pi, abs=0.011)
            assert lab.lidar_box[0] <= sk.LidarSpec().label_range
            # occlusion level follows the fraction of the object's rays that were blocked
            blocked = 1.0 - lab.visible_frac
            if lab.occluded == 0:
                assert blocked <= 0.15
            elif lab.occluded == 1:
                assert 0.15 < blocked <= 0.6
            elif lab.occluded == 2:
                assert blocked > 0.6
            if lab.type == 'Car':
                car_dims.append(lab.dimensions)
                seen_occ.add(lab.occluded)
                height = y2 - y1
                if lab.occluded <= 0 and height > 40 and lab.truncated <= 0.15:
                    seen_diff.add('easy')
                elif lab.occluded <= 1 and height > 25 and lab.truncated <= 0.3:
                    seen_diff.add('moderate')
                elif lab.occluded <= 2 and height > 25 and lab.truncated <= 0.5:
                    seen_diff.add('hard')
    assert {0, 1, 2} <= seen_occ
    assert seen_diff == {'easy', 'moderate', 'hard'}
    mean_h, mean_w, mean_l = np.mean(car_dims, 0)
    assert abs(mean_h - 1.56) < 0.1 and abs(mean_w - 1.6) < 0.1 and abs(mean_l - 3.9) < 0.3


def test_points_look_like_a_reduced_kitti_cloud(frames):
    # (that every point lies in the camera frustum by mmdet3d's own remove_outside_points is
    # checked in test_converter_builds_infos_and_gt_database: velodyne_reduced == velodyne)
    for f in frames:
        p = f.points
        assert p.dtype == np.float32 and p.shape[1] == 4
        assert 10000 < len(p) < 30000  # the real reduced frame 000008 has 17238
        u, v, depth = sk.project_to_image(p[:, :3].astype(np.float64))
        assert depth.min() > 0 and u.min() >= 0 and u.max() < sk.IMAGE_WIDTH
        assert v.min() >= 0 and v.max() < sk.IMAGE_HEIGHT
        # intensity in [0, 1), quantised to 0.01, with some zeros like KITTI
        assert p[:, 3].min() >= 0 and p[:, 3].max() < 1
        np.testing.assert_allclose(p[:, 3] * 100, np.round(p[:, 3] * 100), atol=1e-3)
        assert 0.0 < (p[:, 3] == 0).mean() < 0.5
        # beams: nothing above +2 deg (plus noise) and ground 1.73 m below the sensor
        r = np.linalg.norm(p[:, :3], axis=1)
        assert np.degrees(np.arcsin(p[:, 2] / r)).max() < 2.1
        ground = p[f.point_obj == sk.GROUND_ID]
        a, b, c, d = f.plane
        assert np.abs(ground[:, :3] @ np.array([a, b, c]) + d).max() < 0.1
        assert abs(d - 1.73) < 0.01 and c > 0.99


def test_lidar_spec_validation():
    with pytest.raises(ValueError, match='part_margin'):
        sk.LidarSpec(part_margin=0.02, range_noise_clip=0.04)
    with pytest.raises(ValueError, match='az_step_deg'):
        sk.LidarSpec(az_step_deg=0.0)
    coarse = sk.simulate_frame(0, 0, sk.LidarSpec(az_step_deg=0.34))
    fine = sk.simulate_frame(0, 0)
    assert 0.35 < len(coarse.points) / len(fine.points) < 0.65
    with pytest.raises(ValueError, match='num_val'):
        sk.generate_dataset('/nonexistent-never-written', 2, 0)


# ----------------------------------------------------------------------------- stock mmdet3d
@pytest.fixture(scope='module')
def converted(sim_kitti_small):
    """4 train + 12 val frames converted by the unchanged `mim run mmdet3d create_data`
    (the session's shared set, ``tests/conftest.py``)."""
    return sim_kitti_small


def test_converter_builds_infos_and_gt_database(converted):
    import mmengine
    root = converted
    for name in ('train', 'val', 'trainval', 'test'):
        assert (root / f'kitti_infos_{name}.pkl').exists()
    # mmdet3d's frustum crop (remove_outside_points) keeps every simulated point
    for i in range(16):
        name = f'{i:06d}.bin'
        assert (root / 'training' / 'velodyne_reduced' / name).read_bytes() == \
            (root / 'training' / 'velodyne' / name).read_bytes()
    dbinfos = mmengine.load(root / 'kitti_dbinfos_train.pkl')
    for cls in TARGETS:
        assert len(dbinfos.get(cls, [])) > 0, f'no {cls} in the GT database'
    val = mmengine.load(root / 'kitti_infos_val.pkl')
    assert len(val['data_list']) == 12
    for info in val['data_list'][:3]:
        idx = info['sample_idx']
        frame = sk.simulate_frame(1, idx)
        assert len(info['instances']) == len(frame.labels)
        for ins, lab in zip(info['instances'], frame.labels):
            # the converter counts every point in the box; ours are the object's own returns
            assert ins['num_lidar_pts'] >= lab.num_points
            assert ins['bbox'] == pytest.approx(list(lab.bbox), abs=1e-3)
        # the written ground plane is what KittiDataset turns back into the LiDAR plane
        plane = np.asarray(info['plane'])
        np.testing.assert_allclose(plane, sk.lidar_plane_to_camera(frame.plane), atol=1e-5)


def _stock_config():
    from mmengine.config import Config
    return Config.fromfile(os.path.join(
        sk.mmdet3d_mim_root(),
        'configs/pointpillars/pointpillars_hv_secfpn_8xb6-160e_kitti-3d-3class.py'))


def test_kitti_dataset_with_stock_train_pipeline(converted):
    import mmdet3d_pointdistiller  # noqa: F401  (compat shims, e.g. np.long for ObjectSample)
    from mmdet3d.registry import DATASETS
    from mmengine.registry import init_default_scope
    from mmdet3d.datasets.transforms import dbsampler
    init_default_scope('mmdet3d')
    if 'long' not in vars(np):  # numpy 1.24-1.26: the compat shim must give dbsampler np.long
        assert mmdet3d_pointdistiller.compat.ACTIVE['dbsampler_numpy_long'] is True
        assert dbsampler.np.long is np.int64 and dbsampler.np.float32 is np.float32
    root = str(converted) + '/'
    cfg = _stock_config()
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg = ds_cfg.dataset if ds_cfg.type == 'RepeatDataset' else ds_cfg
    ds_cfg.data_root = root
    sampler = [t for t in ds_cfg.pipeline if t['type'] == 'ObjectSample']
    assert sampler and sampler[0]['use_ground_plane']
    sampler[0]['db_sampler']['data_root'] = root
    sampler[0]['db_sampler']['info_path'] = root + 'kitti_dbinfos_train.pkl'
    ds = DATASETS.build(ds_cfg)
    assert len(ds) == 4
    for i in range(2):
        raw = ds.get_data_info(i)['ann_info']
        item = ds[i]
        gt = item['data_samples'].gt_instances_3d
        assert item['inputs']['points'].shape[0] > 1000
        assert item['inputs']['points'].shape[1] == 4
        labels = gt.labels_3d.numpy()
        assert len(labels) == gt.bboxes_3d.tensor.shape[0] > 0
        assert set(labels.tolist()) <= {0, 1, 2}
        # ObjectSample pasted database objects on top of the frame's own boxes
        assert len(labels) > len(raw['gt_labels_3d'])


@pytest.mark.slow  # ~35 s, most of it numba compiling KITTI's evaluation
def test_kitti_metric_on_ground_truth(converted):
    import mmdet3d_pointdistiller  # noqa: F401  (CPU rotated IoU for KittiMetric)
    import torch
    from mmdet3d.registry import DATASETS, METRICS
    from mmdet3d.structures import LiDARInstance3DBoxes
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    root = str(converted) + '/'
    cfg = _stock_config()
    va = copy.deepcopy(cfg.val_dataloader.dataset)
    va.data_root = root
    ds = DATASETS.build(va)
    ev = copy.deepcopy(cfg.val_evaluator)
    ev.ann_file = root + 'kitti_infos_val.pkl'
    metric = METRICS.build(ev)
    metric.dataset_meta = ds.metainfo
    results, n_car = [], 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        ann = info['eval_ann_info']
        boxes = ann['gt_bboxes_3d'].tensor.clone()
        boxes[:, 0] += 0.02  # 2 cm off: identical boxes hit mmcv's degenerate rotated-IoU case
        labels = torch.as_tensor(ann['gt_labels_3d'])
        n_car += int((labels == 2).sum())
        results.append(dict(sample_idx=info['sample_idx'], pred_instances=dict(),
                            pred_instances_3d=dict(bboxes_3d=LiDARInstance3DBoxes(boxes),
                                                   scores_3d=torch.linspace(1, 0.5, len(labels)),
                                                   labels_3d=labels)))
    assert n_car >= 41  # KITTI's AP40 needs >= 40 GT to reach 100
    out = metric.compute_metrics(results)
    key = 'pred_instances_3d/KITTI/Car_{}_AP40_moderate_strict'
    assert out[key.format('3D')] > 90 and out[key.format('BEV')] > 90
    assert out[key.format('2D')] > 90
